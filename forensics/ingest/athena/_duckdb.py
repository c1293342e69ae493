"""DuckDB standing in for Athena: the CloudTrail table as a view over local files.

The view has the Athena table's columns and types (structs for ``useridentity``, ``resources``,
``addendum``, ``tlsdetails``; JSON text for ``requestparameters``, ``responseelements``,
``additionaleventdata`` ...), the partition columns ``account`` / ``region`` / ``timestamp``
read from the S3 layout of each path, and ``"$path"``. Partition projection is mirrored: only
the files whose layout matches the query's accounts, regions and day range are opened, which is
what Athena reads from the projected locations. Used by the tests and ``bench/athena.py`` to run
the very query sent to Athena (transpiled by sqlglot) on the same files.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from forensics.ingest.athena._query import Filters, duckdb
from forensics.ingest.athena._table import CLOUDTRAIL_COLUMNS
from forensics.sources._files import layout_of

__all__ = ["DuckDBEngine", "duckdb_type", "trail_files"]

_ONE_DAY = timedelta(days=1)
_LAYOUT_SQL = r"AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4}/\d{2}/\d{2})/"


def duckdb_type(kind: object) -> str:
    """A column type of :data:`CLOUDTRAIL_COLUMNS` in DuckDB (field names as in the JSON).

    >>> duckdb_type(("struct", [("ARN", "STRING")]))
    'STRUCT("ARN" VARCHAR)'
    """
    if isinstance(kind, str):
        return "VARCHAR"
    if kind[0] == "struct":  # type: ignore[index]
        inner = ", ".join(f'"{n}" {duckdb_type(t)}' for n, t in kind[1])  # type: ignore[index,misc]
        return f"STRUCT({inner})"
    if kind[0] == "array":  # type: ignore[index]
        return f"{duckdb_type(kind[1])}[]"  # type: ignore[index]
    if kind[0] == "map":  # type: ignore[index]
        return "MAP(VARCHAR, VARCHAR)"
    raise ValueError(f"unknown column type {kind!r}")


def trail_files(root: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """``(path, size)`` of every CloudTrail log file (not digests) in the layout under ``root``."""
    out = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = os.path.join(folder, name)
            lay = layout_of(path)
            if (
                lay is not None
                and lay.kind == "CloudTrail"
                and name.endswith((".json", ".json.gz"))
            ):
                out.append((path, os.path.getsize(path)))
    return out


@dataclass
class Ran:
    """One query as the stand-in ran it (the facts an Athena run reports)."""

    query_id: str
    sql: str
    rows: pl.DataFrame
    bytes_scanned: int
    files: int
    seconds: float
    output: str | None = None


def _select(name: str, kind: object) -> str:
    """One column of the view. Hive's JSON SerDe matches keys ignoring case; DuckDB's struct
    cast does not, so ``resources`` entries (``ARN`` in CloudTrail, ``arn`` in hand-made
    records) are read by either spelling."""
    if isinstance(kind, str):
        return f'r."{name}" AS {name.lower()}'
    if name == "resources":
        pick = "coalesce(x->>'{0}', x->>'{1}')"
        return (
            "CASE WHEN json_type(r.resources) = 'ARRAY' THEN list_transform("
            "CAST(r.resources AS JSON[]), lambda x: CASE WHEN json_type(x) = 'OBJECT' THEN "
            f'struct_pack("ARN" := {pick.format("ARN", "arn")}, '
            f'"accountId" := {pick.format("accountId", "accountid")}, '
            "\"type\" := x->>'type') END) END AS resources"
        )
    return f'TRY_CAST(r."{name}" AS {duckdb_type(kind)}) AS {name.lower()}'


class DuckDBEngine:
    """Runs the Athena query, transpiled, over the trail files under ``root``.

    ``table`` is the name the query uses (``db.table``). ``materialize=True`` parses every file
    once into a DuckDB table and answers each query from the rows of the files it selects (for
    many small queries, e.g. a closure's rounds); by default each query reads its files.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        table: str = "forensics.cloudtrail",
        *,
        materialize: bool = False,
    ) -> None:
        import duckdb as _duckdb

        self.root = str(root)
        self.table = table
        self.files = trail_files(self.root)
        self._con = _duckdb.connect()
        self._con.execute("SET threads TO 2")
        self.runs: list[Ran] = []
        self.materialize = materialize
        self._loaded = False

    def select(self, f: Filters) -> list[tuple[str, int]]:
        """The files partition projection reads for ``f`` (accounts, regions, day range)."""
        lo = (f.start - _ONE_DAY).date() if f.start is not None else None
        hi = (f.end + _ONE_DAY).date() if f.end is not None else None
        out = []
        for path, size in self.files:
            lay = layout_of(path)
            assert lay is not None
            if f.accounts is not None and lay.account not in f.accounts:
                continue
            if f.regions is not None and lay.region not in f.regions:
                continue
            if (lo is not None and lay.day < lo) or (hi is not None and lay.day > hi):
                continue
            out.append((path, size))
        return out

    def _view(self, files: Iterable[tuple[str, int]]) -> None:
        schema, _, name = self.table.rpartition(".")
        # structs are read as JSON and cast: a value of another shape becomes null (as a
        # record whose field does not fit the table's struct), not an error for the whole file
        records = (
            "STRUCT("
            + ", ".join(
                f'"{n}" {"VARCHAR" if isinstance(t, str) else "JSON"}'
                for n, t in CLOUDTRAIL_COLUMNS
            )
            + ")[]"
        )
        paths = [p for p, _ in files]
        cols = ",\n".join(_select(n, t) for n, t in CLOUDTRAIL_COLUMNS)
        if schema:
            self._con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        target = f'"{schema}"."{name}"' if schema else f'"{name}"'
        if not paths:
            empty = ", ".join(
                f"CAST(NULL AS {duckdb_type(t)}) AS {n.lower()}" for n, t in CLOUDTRAIL_COLUMNS
            )
            self._con.execute(
                f"CREATE OR REPLACE VIEW {target} AS SELECT {empty}, NULL::VARCHAR AS account, "
                'NULL::VARCHAR AS region, NULL::VARCHAR AS "timestamp", NULL::VARCHAR AS "$path" '
                "WHERE false"
            )
            return
        listing = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
        self._con.execute(
            f"CREATE OR REPLACE VIEW {target} AS SELECT {cols},\n"
            f"regexp_extract(filename, '{_LAYOUT_SQL}', 1) AS account,\n"
            f"regexp_extract(filename, '{_LAYOUT_SQL}', 2) AS region,\n"
            f"regexp_extract(filename, '{_LAYOUT_SQL}', 3) AS \"timestamp\",\n"
            'filename AS "$path"\n'
            f"FROM (SELECT unnest(Records) AS r, filename FROM read_json({listing}, "
            f"columns={{'Records': '{records}'}}, filename=true, format='unstructured'))"
        )

    def _select_view(self, files: list[tuple[str, int]]) -> None:
        """The view over the parsed rows of ``files`` (``materialize=True``)."""
        schema, _, name = self.table.rpartition(".")
        target = f'"{schema}"."{name}"' if schema else f'"{name}"'
        if not self._loaded:
            self._view(self.files)
            self._con.execute(f"CREATE OR REPLACE TABLE _forensics_rows AS SELECT * FROM {target}")
            self._loaded = True
        self._con.execute("CREATE OR REPLACE TEMP TABLE _forensics_selected(path VARCHAR)")
        if files:
            self._con.executemany(
                "INSERT INTO _forensics_selected VALUES (?)", [(p,) for p, _ in files]
            )
        self._con.execute(
            f"CREATE OR REPLACE VIEW {target} AS SELECT * FROM _forensics_rows "
            'WHERE "$path" IN (SELECT path FROM _forensics_selected)'
        )

    def run(self, query: Any, f: Filters) -> Ran:
        """Run ``query`` (the sqlglot AST sent to Athena) for filters ``f``."""
        began = time.perf_counter()
        files = self.select(f)
        if self.materialize:
            self._select_view(files)
        else:
            self._view(files)
        sql = duckdb(query)
        rows = pl.from_arrow(self._con.sql(sql).to_arrow_table())
        rows = rows.with_columns(pl.all().cast(pl.String))
        ran = Ran(
            f"duckdb-{uuid.uuid4()}",
            sql,
            rows,
            sum(s for _, s in files),
            len(files),
            time.perf_counter() - began,
        )
        self.runs.append(ran)
        return ran


class DuckDBParquetEngine:
    """The DuckDB stand-in for a Security Lake table: Parquet files in Security Lake's layout
    (``region=/accountId=/eventDay=`` partitions), queried with the SQL sent to Athena."""

    def __init__(self, root: str | os.PathLike[str], table: str) -> None:
        import duckdb as _duckdb

        self.root = str(root)
        self.table = table
        self._con = _duckdb.connect()
        self._con.execute("SET threads TO 2")
        self.runs: list[Ran] = []

    def run(self, query: Any, f: Filters) -> Ran:
        from forensics.ingest.athena._ocsf import _wanted

        began = time.perf_counter()
        files = [
            (str(p), p.stat().st_size)
            for p in sorted(Path(self.root).rglob("*.parquet"))
            if _wanted(str(p), f)
        ]
        schema, _, name = self.table.rpartition(".")
        if schema:
            self._con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        target = f'"{schema}"."{name}"' if schema else f'"{name}"'
        listing = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p, _ in files) + "]"
        self._con.execute(
            f'CREATE OR REPLACE VIEW {target} AS SELECT *, filename AS "$path" FROM '
            f"read_parquet({listing}, hive_partitioning=true, hive_types_autocast=false, "
            "union_by_name=true, filename=true)"
        )
        sql = duckdb(query)
        rows = pl.from_arrow(self._con.sql(sql).to_arrow_table())
        rows = rows.with_columns(pl.all().cast(pl.String))  # type: ignore[union-attr]
        ran = Ran(
            f"duckdb-{uuid.uuid4()}",
            sql,
            rows,
            sum(s for _, s in files),
            len(files),
            time.perf_counter() - began,
        )
        self.runs.append(ran)
        return ran
