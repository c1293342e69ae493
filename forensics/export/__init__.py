"""Export findings to files a ticket accepts: charts, event tables and a whole ticket folder.

* :func:`chart`: an altair chart as PNG, SVG or PDF, offline (vl-convert);
* :func:`events`: events as CSV, JSON lines, Parquet or a Markdown table;
* :func:`ticket`: a folder with ``summary.md``, charts, ``events.csv``, ``report.html`` and
  ``manifest.json`` (SHA-256 of every output and input log file).

Everything is safe by default: secrets in request parameters / response elements are redacted,
CSV formula cells neutralised, Markdown and HTML escaped.

>>> import forensics as fx  # doctest: +SKIP
>>> fx.export.ticket(trail.for_principal("alice"), "out/INC-123")  # doctest: +SKIP
"""

from forensics.export._charts import chart
from forensics.export._events import TICKET_COLUMNS, events
from forensics.export._folder import ticket_folder
from forensics.export._redact import REDACTED, redact_frame
from forensics.export._ticket import TicketFiles, ticket

__all__ = [
    "REDACTED",
    "TICKET_COLUMNS",
    "TicketFiles",
    "chart",
    "events",
    "redact_frame",
    "ticket",
    "ticket_folder",
]
