"""Past one machine: Athena over the organisation trail, and Security Lake (OCSF).

The trail stays in S3; Athena (Trino) does the cutting. :func:`ddl` writes the table with
partition projection, :func:`load` (also ``fx.load("athena://db.table", ...)``) pushes every
filter into one query and returns the same ``Trail`` as a local load, and :func:`closure`
expands a credential closure in rounds of narrow queries so that ``fx.blast_radius`` runs on
just the events it needs. The query is one sqlglot AST: Trino for Athena, DuckDB in tests.

>>> from forensics import athena
>>> print(athena.ddl("my-trail", org_id="o-a1b2c3d4e5", accounts=["111122223333"],
...                  regions=["us-east-1"]).splitlines()[0])
CREATE EXTERNAL TABLE IF NOT EXISTS cloudtrail_logs (
"""

from __future__ import annotations

from forensics.ingest.athena._closure import Round, Source
from forensics.ingest.athena._duckdb import DuckDBEngine, DuckDBParquetEngine
from forensics.ingest.athena._load import DEFAULT_MAX_SCAN_BYTES, AthenaEngine, load
from forensics.ingest.athena._ocsf import load_athena as load_security_lake
from forensics.ingest.athena._ocsf import read_security_lake
from forensics.ingest.athena._query import Filters, build, duckdb, trino
from forensics.ingest.athena._table import CLOUDTRAIL_COLUMNS, ddl

__all__ = [
    "CLOUDTRAIL_COLUMNS",
    "DEFAULT_MAX_SCAN_BYTES",
    "AthenaEngine",
    "DuckDBEngine",
    "DuckDBParquetEngine",
    "Filters",
    "Round",
    "Source",
    "build",
    "ddl",
    "duckdb",
    "load",
    "load_security_lake",
    "read_security_lake",
    "trino",
]
