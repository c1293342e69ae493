"""Export findings to files a ticket accepts: charts, event tables and a whole ticket folder.

>>> import forensics as fx  # doctest: +SKIP
>>> fx.export.ticket(trail.for_principal("alice"), "out/INC-123")  # doctest: +SKIP
"""

from forensics.export._events import TICKET_COLUMNS, events
from forensics.export._redact import REDACTED, redact_frame

__all__ = ["REDACTED", "TICKET_COLUMNS", "events", "redact_frame"]
