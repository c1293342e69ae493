"""Fuzz the C reader against msgspec: random byte edits of real Records files.

    python tools/fuzz_c_reader.py [--seconds 300] [--seed 1]

Takes compact ``{"Records": [...]}`` files (the sample in ``data/sample``, the benchmark trail in
``bench/data`` and the external samples in ``../shared/data/external``, whichever exist), edits
a few bytes of each (JSON punctuation, escapes, invalid UTF-8, random bytes; replaced, inserted
or deleted), and checks that the C reader either declines the file or reads exactly the rows
msgspec reads. Run by hand; for memory errors, build the reader with sanitizers first::

    CFLAGS="-fsanitize=address,undefined -g -O1" LDFLAGS="-fsanitize=address,undefined" \\
        .venv/bin/python setup.py build_ext --inplace --force
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \\
        ASAN_OPTIONS=detect_leaks=0 .venv/bin/python tools/fuzz_c_reader.py
    .venv/bin/python setup.py build_ext --inplace --force   # the normal build again
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from polars.testing import assert_frame_equal

from forensics.ingest import _native
from forensics.ingest._fast import FastBatch, FastPathUnsupported
from forensics.sources._formats import FileProblem, read_bytes

REPO = Path(__file__).resolve().parent.parent
ROOTS = [
    REPO / "data" / "sample",
    REPO / "bench" / "data",
    REPO / ".." / "shared" / "data" / "external",
]
SPECIAL = [
    b'"',
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\\u",
    b"\\ud800",
    b"1e",
    b"-",
    b"null",
    b" ",
    b"\n",
]


def _files(per_root: int = 150) -> list[bytes]:
    out = []
    for root in ROOTS:
        found = sorted(root.rglob("*.json*")) if root.is_dir() else []
        for path in found[:: max(1, len(found) // per_root)]:
            try:
                data = read_bytes(str(path))
            except FileProblem:
                continue
            if data.startswith(b'{"Records"') and len(data) < 400_000:
                out.append(data)
    return out


def _rows(data: bytes, native: bool):
    batch = FastBatch(native=native)
    try:
        batch.add(data, "f.json")
    except FastPathUnsupported:
        return None
    if native and not batch.native_files:
        return None
    return batch.frame()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not _native.available():
        raise SystemExit("the C reader is not built (or FORENSICS_PURE_PYTHON is set)")
    rng = random.Random(args.seed)
    files = _files()
    if not files:
        raise SystemExit("no Records files found: run `make sample` first")
    print(f"{len(files)} files")
    total = taken = 0
    stop = time.monotonic() + args.seconds
    while time.monotonic() < stop:
        data = bytearray(rng.choice(files))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            junk = (
                rng.choice(SPECIAL)
                if rng.random() < 0.6
                else bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
            )
            how = rng.random()
            if how < 0.4:
                data[at : at + len(junk)] = junk
            elif how < 0.8:
                data[at:at] = junk
            else:
                del data[at : at + rng.randint(1, 20)]
        total += 1
        c = _rows(bytes(data), native=True)
        if c is None:
            continue
        taken += 1
        py = _rows(bytes(data), native=False)
        assert py is not None, f"the C reader took a file msgspec declines: {bytes(data[:200])!r}"
        assert_frame_equal(c, py)
    print(f"{total:,} edited files; the C reader took {taken:,}, each read exactly as msgspec")


if __name__ == "__main__":
    main()
