"""The result of a verification: per digest, per log file, per break in a chain, per region.

>>> v = Verification.build([], [], [], [], 0)
>>> v.verdict, v.exit_code
('not verifiable', 3)
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = ["EXIT_CODES", "TAMPERING_FILE_STATUSES", "Verification"]

#: File statuses that are evidence of tampering.
TAMPERING_FILE_STATUSES = ("modified", "deleted", "uncovered")
#: Exit codes of ``forensics verify``.
EXIT_CODES = {"valid": 0, "tampered": 1, "not verifiable": 3}

_DIGEST_SCHEMA = {
    "path": pl.String,
    "account": pl.String,
    "region": pl.String,
    "trail": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "status": pl.String,
    "reason": pl.String,
    "log_files": pl.Int64,
}
_FILE_SCHEMA = {
    "path": pl.String,
    "account": pl.String,
    "region": pl.String,
    "digest": pl.String,
    "status": pl.String,
    "reason": pl.String,
}
_BREAK_SCHEMA = {
    "account": pl.String,
    "region": pl.String,
    "trail": pl.String,
    "after": pl.Datetime("us", "UTC"),
    "before": pl.Datetime("us", "UTC"),
    "kind": pl.String,
    "tampering": pl.Boolean,
    "detail": pl.String,
    "digest": pl.String,
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SHOW = 20


def _safe(text: object) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


@dataclass
class Verification:
    """What verifying a trail's digests found.

    ``verdict`` is ``"valid"`` only when at least one digest was checked and every digest,
    link and listed file checked out; ``"tampered"`` when anything was modified, deleted,
    added (a log file no digest lists), re-signed or unlinked; ``"not verifiable"`` otherwise
    (no digests, no signatures, no public keys).
    """

    digests: pl.DataFrame
    files: pl.DataFrame
    breaks: pl.DataFrame
    by_region: pl.DataFrame
    verdict: str
    notes: list[str] = field(default_factory=list)
    bytes_hashed: int = 0
    signatures: int = 0
    public_keys: int = 0

    @classmethod
    def build(
        cls,
        digest_rows: list[dict[str, Any]],
        file_rows: list[dict[str, Any]],
        break_rows: list[dict[str, Any]],
        notes: list[str],
        bytes_hashed: int,
        *,
        signatures: int = 0,
        public_keys: int = 0,
    ) -> Verification:
        digests = pl.DataFrame(digest_rows, schema=_DIGEST_SCHEMA).sort("account", "region", "end")
        files = pl.DataFrame(file_rows, schema=_FILE_SCHEMA).sort("account", "region", "path")
        breaks = pl.DataFrame(break_rows, schema=_BREAK_SCHEMA).sort("account", "region", "before")
        by_region = cls._by_region(digests, files, breaks)
        if by_region.height == 0:
            verdict = "not verifiable"
        elif (by_region["verdict"] == "tampered").any():
            verdict = "tampered"
        elif (by_region["verdict"] == "valid").all():
            verdict = "valid"
        else:
            verdict = "not verifiable"
        return cls(
            digests,
            files,
            breaks,
            by_region,
            verdict,
            list(notes),
            bytes_hashed,
            signatures,
            public_keys,
        )

    @staticmethod
    def _by_region(
        digests: pl.DataFrame, files: pl.DataFrame, breaks: pl.DataFrame
    ) -> pl.DataFrame:
        keys = ["account", "region"]
        d = digests.group_by(keys).agg(
            pl.len().alias("digests"),
            (pl.col("status") == "valid").sum().alias("digests_valid"),
            (pl.col("status") == "invalid").sum().alias("digests_invalid"),
            (pl.col("status") == "unverifiable").sum().alias("digests_unverifiable"),
            pl.col("start").min().alias("first"),
            pl.col("end").max().alias("last"),
        )
        f = files.group_by(keys).agg(
            *[
                (pl.col("status") == s).sum().alias(s.replace(" ", "_"))
                for s in ("valid", "modified", "deleted", "uncovered", "unverified", "no digest")
            ],
            pl.col("status")
            .is_in(["after last digest", "before first digest", "not fetched"])
            .sum()
            .alias("outside"),
        )
        b = breaks.group_by(keys).agg(
            pl.col("tampering").sum().alias("chain_breaks"),
            (pl.col("kind") == "restarted").sum().alias("restarts"),
            pl.when(pl.col("tampering"))
            .then(pl.col("before") - pl.col("after"))
            .sum()
            .dt.total_minutes()
            .truediv(60)
            .alias("hours_missing"),
        )
        frame = d.join(f, on=keys, how="full", coalesce=True).join(
            b, on=keys, how="full", coalesce=True
        )
        counts = [c for c in frame.columns if c not in (*keys, "first", "last", "hours_missing")]
        frame = frame.with_columns(
            pl.col(counts).fill_null(0).cast(pl.Int64), pl.col("hours_missing").fill_null(0.0)
        )
        tampered = (
            pl.col("digests_invalid")
            + pl.col("modified")
            + pl.col("deleted")
            + pl.col("uncovered")
            + pl.col("chain_breaks")
        ) > 0
        valid = (
            (pl.col("digests") > 0)
            & (pl.col("digests_valid") == pl.col("digests"))
            & (pl.col("unverified") + pl.col("no_digest") == 0)
        )
        frame = frame.with_columns(
            pl.when(tampered)
            .then(pl.lit("tampered"))
            .when(valid)
            .then(pl.lit("valid"))
            .otherwise(pl.lit("not verifiable"))
            .alias("verdict")
        )
        first = ["account", "region", "verdict"]
        return frame.select(first + [c for c in frame.columns if c not in first]).sort(keys)

    # -- reading --------------------------------------------------------------------------------
    @property
    def tampered(self) -> bool:
        """True when anything was modified, deleted, added, re-signed or unlinked."""
        return self.verdict == "tampered"

    @property
    def exit_code(self) -> int:
        """0 valid, 1 tampered, 3 not verifiable (what ``forensics verify`` exits with)."""
        return EXIT_CODES[self.verdict]

    def problems(self) -> pl.DataFrame:
        """Every finding that is not "valid", one row each: what, where, why."""
        d = self.digests.filter(pl.col("status") != "valid").select(
            pl.lit("digest").alias("what"), "account", "region", "path", "status", "reason"
        )
        f = self.files.filter(pl.col("status") != "valid").select(
            pl.lit("log file").alias("what"), "account", "region", "path", "status", "reason"
        )
        b = self.breaks.select(
            pl.lit("chain").alias("what"),
            "account",
            "region",
            pl.col("digest").alias("path"),
            pl.col("kind").alias("status"),
            pl.col("detail").alias("reason"),
        )
        return pl.concat([d, f, b])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable verdict and counts (what a ticket manifest carries)."""
        return {
            "verdict": self.verdict,
            "digests": self.digests.height,
            "digests_valid": int((self.digests["status"] == "valid").sum()),
            "files_checked": self.files.height,
            "by_status": dict(sorted(self.files["status"].value_counts().rows())),
            "chain_breaks": int(self.breaks["tampering"].sum()),
            "by_region": [
                {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                for row in self.by_region.to_dicts()
            ],
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few lines to paste into a ticket (terminal-safe)."""
        v = self.verdict.upper()
        lines = [
            f"integrity: {v} — {self.digests.height:,} digest(s), "
            f"{int((self.digests['status'] == 'valid').sum()):,} with a valid signature; "
            f"{self.files.height:,} log file(s) checked"
        ]
        if self.digests.height == 0:
            lines.append(
                "no digest files: log file validation off, or digests not fetched "
                "(S3: load with remote={'digests': True}); nothing can be verified"
            )
        for row in self.by_region.iter_rows(named=True):
            parts = [f"{row['digests_valid']}/{row['digests']} digests valid"]
            for name in ("modified", "deleted", "uncovered", "unverified", "no_digest", "outside"):
                if row[name]:
                    parts.append(f"{row[name]} {name.replace('_', ' ')}")
            if row["digests_invalid"]:
                parts.append(f"{row['digests_invalid']} digests INVALID")
            if row["digests_unverifiable"]:
                parts.append(f"{row['digests_unverifiable']} digests unverifiable")
            if row["chain_breaks"]:
                parts.append(
                    f"{row['chain_breaks']} chain break(s), {row['hours_missing']:.1f} h missing"
                )
            if row["restarts"]:
                parts.append(f"{row['restarts']} restart(s)")
            lines.append(
                f"  {row['account']} {row['region']}: {row['verdict']} — " + ", ".join(parts)
            )
        problems = self.problems().filter(
            ~pl.col("status").is_in(
                ["after last digest", "before first digest", "not fetched", "starts outside"]
            )
        )
        for row in problems.head(SHOW).iter_rows(named=True):
            lines.append(f"  {row['what']} {row['status']}: {row['path']} ({row['reason']})")
        if problems.height > SHOW:
            lines.append(f"  ... {problems.height - SHOW:,} more (see .problems())")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(_safe(line) for line in lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<Verification {self.verdict}: {self.digests.height:,} digests, "
            f"{self.files.height:,} log files>"
        )

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"
