"""``Trail``: a loaded trail (the events table, lazily) plus how it was loaded.

Every filter returns a new ``Trail`` over the same data: the filter is added to a lazy plan and
nothing is copied until ``.events`` is asked for.

>>> import polars as pl
>>> from forensics._schema import conform
>>> t = Trail(conform(pl.DataFrame({"event_name": ["GetObject", "PutObject"]})))
>>> t.where(event_name="PutObject").events.height
1
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from forensics._schema import EVENTS_SCHEMA, conform, in_window, is_denied, to_utc

if TYPE_CHECKING:
    from forensics.ingest._report import LoadReport

__all__ = ["Segments", "Trail", "is_denied", "to_utc"]  # is_denied, to_utc: defined in _schema


#: where() accepts every string column of the table (the events schema, defined once).
_WHERE_COLUMNS = frozenset(
    name for name, dtype in EVENTS_SCHEMA.items() if dtype in (pl.String, pl.Categorical())
)


#: The columns a segmented trail's key index lists per segment (written by
#: ``forensics.ingest._stream``; what ``where`` and ``for_principal`` select on).
INDEXED_COLUMNS = ("principal", "access_key_id")


@dataclass(frozen=True)
class Segments:
    """Where a big trail lies: time-sorted Parquet segments and a key index saying which
    segments hold which values of a few columns (``principal``, ``access_key_id``).

    A trail selected by those columns scans only the segments that hold the values (see
    :meth:`Trail.filter`'s ``within``); built by the loader for trails merged in bounded memory.
    """

    paths: tuple[str, ...]
    keys: str

    def holding(self, within: dict[str, Iterable[str]]) -> list[str] | None:
        """The segments holding any of these values (None: a column is not indexed, or the
        index cannot be read: then every segment must be scanned)."""
        if not within or not set(within) <= set(INDEXED_COLUMNS):
            return None
        clauses = [
            (pl.col("column") == column) & pl.col("value").is_in(list(values))
            for column, values in within.items()
        ]
        try:
            found = (
                pl.scan_parquet(self.keys)
                .filter(pl.any_horizontal(clauses))
                .select(pl.col("segment").unique().sort())
                .collect()
                .get_column("segment")
                .to_list()
            )
        except Exception:  # an unreadable index: scan every segment (correct, only slower)
            return None
        return [self.paths[i] for i in found if i < len(self.paths)]

    def scan(self, paths: list[str]) -> pl.LazyFrame:
        """A lazy scan of these segments (none: an empty table)."""
        if not paths:
            return pl.LazyFrame(schema=EVENTS_SCHEMA)
        return pl.scan_parquet(paths)


class Trail:
    """A CloudTrail trail loaded into the events table.

    Build one with :func:`forensics.load`; filters (:meth:`between`, :meth:`where`, and the
    principal and lineage methods) return new ``Trail`` objects sharing the same data.
    """

    def __init__(
        self,
        events: pl.LazyFrame | pl.DataFrame,
        report: LoadReport | None = None,
        *,
        originals: Any = None,
        filters: tuple[str, ...] = (),
        base: Trail | None = None,
        segments: Segments | None = None,
    ) -> None:
        self._lazy = events.lazy() if isinstance(events, pl.DataFrame) else events
        self._collected: pl.DataFrame | None = events if isinstance(events, pl.DataFrame) else None
        self.report = report
        self._originals = originals
        #: Human-readable description of every filter applied, in order (goes into tickets).
        self.filters: tuple[str, ...] = filters
        #: The trail before any filter (what it could have recorded is a question about it).
        self._base: Trail | None = base
        #: Segments and key index of a trail merged in bounded memory (selection by key).
        self._segments = segments

    # -- the data -------------------------------------------------------------------------------
    @property
    def lazy(self) -> pl.LazyFrame:
        """The events as a ``polars.LazyFrame`` (for building your own queries)."""
        return self._lazy

    @property
    def events(self) -> pl.DataFrame:
        """The events table as a ``polars.DataFrame`` (collected once, then cached)."""
        if self._collected is None:
            self._collected = self._lazy.collect()
        return self._collected

    def __len__(self) -> int:
        if self._collected is not None:
            return self._collected.height
        return self._lazy.select(pl.len()).collect().item()

    def _derive(self, lazy: pl.LazyFrame, description: str) -> Trail:
        return Trail(
            lazy,
            self.report,
            originals=self._originals,
            filters=(*self.filters, description),
            base=self._base if self._base is not None else self,
        )

    def filter(
        self,
        *predicates: pl.Expr,
        description: str | None = None,
        within: dict[str, Iterable[str]] | None = None,
    ) -> Trail:
        """A new trail keeping the rows where every polars predicate holds.

        ``within`` (optional) promises that every kept row has one of the given values in one
        of the given columns (e.g. ``{"principal": [...], "access_key_id": [...]}``): a trail
        stored in segments with a key index then scans only the segments holding them.

        >>> import polars as pl
        >>> from forensics._schema import conform
        >>> t = Trail(conform(pl.DataFrame({"event_name": ["A", "B"]})))
        >>> len(t.filter(pl.col("event_name") == "B"))
        1
        """
        text = description or " and ".join(str(p) for p in predicates)
        if within and self._segments is not None and self._base is None and not self.filters:
            paths = self._segments.holding(within)
            if paths is not None:
                return self._derive(self._segments.scan(paths).filter(*predicates), text)
        return self._derive(self._lazy.filter(*predicates), text)

    # -- filters --------------------------------------------------------------------------------
    def between(
        self,
        start: datetime | date | str | None = None,
        end: datetime | date | str | None = None,
    ) -> Trail:
        """Events with ``start <= event_time < end`` (either bound may be None; UTC).

        >>> import polars as pl
        >>> from forensics._schema import conform
        >>> from datetime import datetime, timezone
        >>> t = Trail(conform(pl.DataFrame({"event_time": [
        ...     datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 3, tzinfo=timezone.utc)]})))
        >>> len(t.between("2024-01-02", None))
        1
        """
        lo, hi = to_utc(start), to_utc(end)
        keep = in_window(lo, hi)
        if keep is None:
            return self
        text = f"event_time in [{lo.isoformat() if lo else '-inf'}, {hi.isoformat() if hi else '+inf'})"
        return self._derive(self._lazy.filter(keep), text)

    def where(
        self,
        *,
        error: bool | None = None,
        denied: bool | None = None,
        read_only: bool | None = None,
        **equals: str | Iterable[str] | None,
    ) -> Trail:
        """Keep events matching every given field (a value or a list of values).

        Fields: every string column of the events table (``event_name``, ``event_source``,
        ``aws_region``, ``source_ip``, ``user_agent``, ``error_code``, ``principal``, ``actor``,
        ``credential_id``, ``on_behalf_of_user_id``, ...; an unknown field raises naming them).
        ``error=True`` keeps failed calls,
        ``denied=True`` access-denied ones, ``read_only`` filters on the readOnly flag.

        >>> import polars as pl
        >>> from forensics._schema import conform
        >>> t = Trail(conform(pl.DataFrame({"event_name": ["A", "B", "C"]})))
        >>> len(t.where(event_name=["A", "C"]))
        2
        """
        preds: list[pl.Expr] = []
        parts: list[str] = []
        for field, value in equals.items():
            if field not in _WHERE_COLUMNS:
                known = ", ".join(sorted(_WHERE_COLUMNS))
                flags = "error=, denied=, read_only="
                raise ValueError(
                    f"unknown field {field!r} for where(); string columns: {known}; flags: {flags}"
                )
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            column = pl.col(field)
            if EVENTS_SCHEMA.get(field) == pl.Categorical():  # compared as text
                column = column.cast(pl.String)
            preds.append(column.is_in(values))
            parts.append(f"{field} in {values}" if len(values) > 1 else f"{field} = {values[0]}")
        if error is not None:
            preds.append(pl.col("error_code").is_not_null() == error)
            parts.append(f"error = {error}")
        if denied is not None:
            preds.append(is_denied(pl.col("error_code")).fill_null(False) == denied)
            parts.append(f"denied = {denied}")
        if read_only is not None:
            preds.append(pl.col("read_only") == read_only)
            parts.append(f"read_only = {read_only}")
        if not preds:
            return self
        within = {
            f: ([v] if isinstance(v, str) else list(v))
            for f, v in equals.items()
            if f in INDEXED_COLUMNS and v is not None
        }
        return self.filter(*preds, description=" and ".join(parts), within=within or None)

    # -- analyses (implemented in their own subpackages; thin delegates here) -------------------
    def principals(self, *, findings: Any = None, enrich: Any = None) -> pl.DataFrame:
        """One row per principal: identity type, account, first/last seen, counts, IPs, ...

        ``findings``: the ``Findings`` of ``fx.detect`` (or any findings table), or ``True`` to
        run ``fx.detect`` with the kit's rules: adds ``findings``, ``high_findings``,
        ``finding_rules``, ``highest_level``, ``first_finding``, ``last_finding`` and puts the
        worst first (:func:`forensics.detect.with_findings`). ``enrich``: ``True``, a dict of
        ``fx.enrich`` options (``ip_ranges=``, ``mmdb=``) or an ``fx.enrich`` table: adds what
        its source IPs are (:func:`forensics.enrichment.add_ip_summary`). Without either, the
        table is the same (and as cheap) as before. On a filtered trail (``between``,
        ``where``...) only the findings naming its events count.
        See :func:`forensics.identity.principals`.
        """
        from forensics.identity import principals

        return self._with_findings(principals(self), "principal", findings, enrich)

    def _with_findings(
        self, table: pl.DataFrame, key: str, findings: Any, enrich: Any
    ) -> pl.DataFrame:
        """The findings and IP enrichment columns on an identity table, when asked for."""
        if findings is not None and findings is not False:
            from forensics.detect import as_findings, with_findings

            if findings is not True and self.filters:  # a filtered trail: its own hits only
                findings = as_findings(findings).for_events(self)
            table = with_findings(table, findings, key=key, trail=self)
        if enrich is not None and enrich is not False:
            from forensics.enrichment import add_ip_summary

            table = add_ip_summary(table, enrich, ips="source_ips")
        return table

    def credentials(self) -> pl.DataFrame:
        """One row per access key seen, with how it was minted and by what.

        See :func:`forensics.identity.credentials`.
        """
        from forensics.identity import credentials

        return credentials(self)

    def lineage(self, access_key_id: str) -> Any:
        """The chain from the origin credential down to ``access_key_id``, and what it minted.

        See :func:`forensics.identity.lineage`.
        """
        from forensics.identity import lineage

        return lineage(self, access_key_id)

    def for_principal(self, who: str, *, derived: bool = False) -> Trail:
        """Events of a principal or actor (ARN, session ARN, name, actor, or access key id).

        ``derived=True`` adds every credential minted (recursively) from its credentials.
        See :func:`forensics.identity.for_principal`.
        """
        from forensics.identity import for_principal

        return for_principal(self, who, derived=derived)

    def with_actors(self) -> Trail:
        """This trail with ``actor`` propagated down the credential lineage (every row named).

        See :func:`forensics.identity.with_actors`.
        """
        from forensics.identity import with_actors

        return with_actors(self)

    def actors(self, *, findings: Any = None, enrich: Any = None) -> pl.DataFrame:
        """One row per actor (the person or workload behind the credentials).

        ``findings`` and ``enrich`` as for :meth:`principals` (findings counted by their
        ``actor``, the person behind the session).
        See :func:`forensics.identity.actors`.
        """
        from forensics.identity import actors

        return self._with_findings(actors(self), "actor", findings, enrich)

    def sessions(self) -> pl.DataFrame:
        """One row per session (an access key in use, or a sign-in credential).

        See :func:`forensics.identity.sessions`.
        """
        from forensics.identity import sessions

        return sessions(self)

    def resources(self) -> pl.DataFrame:
        """One row per (event, resource touched), with canonical ARNs.

        See :func:`forensics.resources.event_resources`.
        """
        from forensics.resources import event_resources

        return event_resources(self)

    def graph(self) -> Any:
        """The actor -> resource graph (a networkx ``MultiDiGraph``).

        See :func:`forensics.graph.build_graph`.
        """
        from forensics.graph import build_graph

        return build_graph(self)

    def verify(self, **options: Any) -> Any:
        """Check the CloudTrail digests of the files this trail was read from.

        See :func:`forensics.integrity.verify` (``signatures=``, ``public_keys=``, ``start=``,
        ``end=``); returns a :class:`~forensics.integrity.Verification`.
        """
        # integrity is an analysis layered on Trail: imported here, lazily
        from forensics.integrity import verify_trail

        return verify_trail(self, **options)

    def coverage(self, **options: Any) -> Any:
        """Per account, region and hour, whether logs were delivered; trail configuration
        changes; event categories and data-event resources. See
        :func:`forensics.integrity.coverage`.
        """
        # integrity is an analysis layered on Trail: imported here, lazily
        from forensics.integrity import coverage

        return coverage(self, **options)

    def not_logged(self, **question: Any) -> Any:
        """For an empty answer: could this trail have recorded it at all?

        ``event_name=``, ``event_source=``, ``resource=``, ``region=``, ``account=``,
        ``start=``, ``end=``; what this (filtered) trail holds counts as seen, the checks run on
        the trail before its filters. See :func:`forensics.integrity.could_have_logged`.

        >>> trail.for_principal("alice").not_logged(event_name="GetObject",
        ...                                         resource="arn:aws:s3:::payroll")  # doctest: +SKIP
        """
        # integrity is an analysis layered on Trail: imported here, lazily
        from forensics.integrity import could_have_logged

        return could_have_logged(self, **question)

    # -- provenance -----------------------------------------------------------------------------
    def original(self, event_id: str) -> list[dict[str, Any]] | dict[str, Any]:
        """The original record(s) for an event id, exactly as they were in the file.

        Returns the record (a dict) when one record has this id, a list when several differing
        records share it (ID collisions are kept, see the load report).
        """
        rows = (
            self._lazy.filter(pl.col("event_id") == event_id)
            .select("source_file", "source_index")
            .collect()
        )
        if rows.height == 0:
            raise KeyError(f"no event with event_id {event_id!r} in this trail")
        if self._originals is None:
            raise KeyError(
                "this trail was not built by forensics.load, so where its records came from is "
                "unknown; load the files with fx.load(...) to get original records back"
            )
        found = self._originals(rows.rows())
        return found[0] if len(found) == 1 else found

    # -- display --------------------------------------------------------------------------------
    def __repr__(self) -> str:
        n = len(self)
        filt = f", filters={list(self.filters)}" if self.filters else ""
        return f"<Trail {n:,} events{filt}>"

    def _repr_html_(self) -> str:
        import html

        parts = [f"<b>Trail</b>: {len(self):,} events"]
        if self.filters:
            parts.append("<br>filters: " + "; ".join(html.escape(f) for f in self.filters))
        if self.report is not None and hasattr(self.report, "_repr_html_"):
            parts.append(self.report._repr_html_())
        return "".join(parts)


def _check_schema(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Make sure a frame has the events schema (used for data that did not come from load)."""
    if frame.collect_schema() == EVENTS_SCHEMA:
        return frame
    return conform(frame)  # type: ignore[return-value]
