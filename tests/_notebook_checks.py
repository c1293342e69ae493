"""What each notebook must have produced, checked in its own kernel after it ran.

These used to be the notebooks' last cells ("sanity checks, run by the test suite"); they live
here so that the notebooks a responder opens hold no test code. :func:`checks_cell` is appended
to a copy of the notebook before it runs (see ``tests/test_notebooks.py`` and the browser
tests); it prints ``ok`` when every check holds.
"""

from __future__ import annotations

import nbformat

CHECKS = {
    "04_triage.ipynb": """
from pathlib import Path
assert len(findings) >= len(top) > 0
assert KEY in set(br.credentials["access_key_id"])
assert "## Findings" in (Path(files.folder) / "summary.md").read_text()
""",
    "00_start_here.ipynb": """
assert len(trail) > 0, "no events loaded: check DATA and the load report above"
assert overview["events"][0] == len(trail)
assert principals.height == overview["principals"][0]
chart = fx.charts.timeline(trail, by="principal")
assert fx.charts.chart_rows(chart) <= 400 * 9, "a timeline must embed aggregates, not events"
before = ui.filtered.height
ui.error.value = "error"
assert ui.filtered.height == len(trail.where(error=True))
ui.error.value = "all"
assert ui.filtered.height == before == len(trail)
# "what failed" lists the evasion calls first, never folded into "(other)"
tried = set(trail.lazy.filter(pl.col("event_name").is_in(EVASION)).collect()["event_name"])
assert tried == set(evasion["event_name"])
refused = trail.where(error=True).lazy.filter(pl.col("event_name").is_in(EVASION)).collect()
assert set(refused["event_name"]) <= set(failed["event_name"])
""",
    "01_principal_timeline.ipynb": """
assert len(direct) > 0, f"no events for {PRINCIPAL!r}"
assert len(mine) >= len(direct)
assert ui.principal.value == principal_key and ui.derived.value
assert ui.filtered.height == len(trail.for_principal(principal_key, derived=True))
busiest = sessions.head(15)
assert busiest["events"].to_list() == sorted(busiest["events"].to_list(), reverse=True)
ui.derived.value = False
assert ui.filtered.height == int(keys.filter(pl.col("principal") == principal_key)["len"][0])
ui.error.value = "error"
assert ui.filtered.height == len(trail.where(principal=principal_key, error=True))
ui.error.value = "all"
""",
    "02_blast_radius.ipynb": """
assert br.events.height > 0, f"the seed {SEED!r} has no events in this window"
assert br.credentials.height >= 1
assert ui.result is not None and ui.result.events.height == br.events.height
graph = fx.charts.blast_graph(br).to_dict()
assert graph == br.chart("graph").to_dict(), "the widget's graph tab draws br.chart('graph')"
seeds = [s for s in ui.seed.options if s != SEED][:1]
if seeds:   # switch the widget to another seed and back
    ui.seed.value = seeds[0]
    assert ui.status.value and (ui.result is None or ui.result.seed == seeds[0]
                                or "fx-problem" in ui.status.value)
    ui.seed.value = SEED
    assert ui.result.events.height == br.events.height
ui.seed.value = "AKIANOSUCHKEY0000000"
assert ui.result is None and ui.export.disabled
ui.seed.value = SEED
""",
    "03_ticket_export.ipynb": """
from pathlib import Path as _P
assert (_P(files.folder) / "summary.md").exists()
assert SEED in (_P(files.folder) / "summary.md").read_text()
assert any(name.endswith(".csv") for name in files)
assert any(name.endswith(".svg") for name in files)
assert len((_P(files.folder) / "summary.md").read_bytes()) <= 4096
""",
}


def checks_cell(name: str) -> nbformat.NotebookNode:
    """The checks of notebook ``name`` as a code cell that prints ``ok`` at the end."""
    return nbformat.v4.new_code_cell(CHECKS[name].strip() + '\nprint("ok")')


def with_checks(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with its checks appended as the last cell."""
    nb = nbformat.from_dict(nb)
    nb.cells.append(checks_cell(name))
    return nb
