"""Fuzz the loader with mutations of the hostile-input corpus (run by hand, not in the suite).

Writes the corpus of ``tools/hostile_corpus.py`` into a temporary folder, then, round after
round, mutates copies of its files (bytes flipped, inserted, deleted, the file cut short,
two files spliced, the content gzipped) and loads the folder. Every round must hold what the
README's "Reliability" section promises:

* ``fx.load`` returns (no exception, no hang) and every file is either read or listed as
  failed with a reason;
* the good files' events are all there, whatever their neighbours hold;
* nothing is written outside the folder but its own ``.forensics-cache``.

    python tools/fuzz_loader.py [--rounds N] [--seed S] [--pure] [--keep DIR]

``--pure`` runs without the C reader (``FORENSICS_PURE_PYTHON=1``). A failing round is
printed with its seed and the folder is kept for replay.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.hostile_corpus import CASES, write_corpus

GOOD = ("good.json", "good.json.gz")


def mutate(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """One random mutation of ``data`` (``other``: another corpus file, for splices)."""
    if not data:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16)))
    how = rng.choice(["flip", "insert", "delete", "cut", "splice", "gzip", "repeat"])
    at = rng.randrange(len(data))
    if how == "flip":
        n = rng.randint(1, 8)
        return data[:at] + bytes(rng.getrandbits(8) for _ in range(n)) + data[at + n :]
    if how == "insert":
        junk = rng.choice(
            [
                b"{",
                b"[",
                b'"',
                b"\\",
                b"\x00",
                b"\xef\xbb\xbf",
                b"\x1f\x8b",
                b'"Records":',
                b'"eventName":',
                b"\n",
                b"\xff",
            ]
        )
        return data[:at] + junk * rng.randint(1, 50) + data[at:]
    if how == "delete":
        return data[:at] + data[at + rng.randint(1, 64) :]
    if how == "cut":
        return data[:at]
    if how == "splice":
        return data[:at] + other[rng.randrange(max(len(other), 1)) :]
    if how == "gzip":
        return gzip.compress(data)
    return data + data  # two documents back to back


def snapshot(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")}


def one_round(folder: Path, rng: random.Random, pure: bool) -> str | None:
    """Mutate, load, check; the failure, or None."""
    import forensics as fx

    if folder.exists():
        shutil.rmtree(folder)
    cases = write_corpus(folder, fifos=rng.random() < 0.3)
    names = [Path(p).name for p, c in cases.items() if c.content is not None]
    for name in rng.sample(names, k=min(len(names), rng.randint(1, 6))):
        if name in GOOD:
            continue
        path = folder / name
        other = (folder / rng.choice(names)).read_bytes() if (folder / name).is_file() else b""
        path.write_bytes(mutate(path.read_bytes(), rng, other))
    parent_before = snapshot(folder.parent)
    os.environ.pop("FORENSICS_PURE_PYTHON", None)
    if pure:
        os.environ["FORENSICS_PURE_PYTHON"] = "1"
    try:
        trail = fx.load(folder, cache=rng.random() < 0.5, workers=rng.choice([1, 2]))
    except Exception as exc:  # the promise: never
        return f"fx.load raised {type(exc).__name__}: {exc}"
    failed = {f.path for f in trail.report.files_failed}
    sources = set(trail.events.get_column("source_file").cast(str).unique().to_list())
    for path in cases:
        if Path(path).name in GOOD and path not in sources:
            return f"good file {path} lost its events"
        if path in failed and path in sources:
            return f"{path} is both failed and read"
    if trail.report.files_seen < len(cases):
        return f"{len(cases) - trail.report.files_seen} file(s) not accounted for"
    created = {p for p in snapshot(folder.parent) - parent_before if ".forensics-cache" not in p}
    if created:
        return f"wrote outside its cache folder: {sorted(created)[:3]}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--pure", action="store_true", help="without the C reader")
    parser.add_argument("--keep", help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fuzz-loader-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"seed {seed}, {len(CASES)} corpus files, working in {base}")
    for n in range(args.rounds):
        rng = random.Random(seed + n)
        problem = one_round(base / "corpus", rng, args.pure)
        if problem is not None:
            print(f"round {n} (seed {seed + n}): {problem}; folder kept: {base / 'corpus'}")
            return 1
    print(f"{args.rounds} rounds, no problem")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
