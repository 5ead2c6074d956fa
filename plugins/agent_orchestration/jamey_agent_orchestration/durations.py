"""How the connector reports time: one rounding for audit events, one for people.

Audit events carry ``duration_ms`` to the microsecond, as the runtime's own ``connector.execute``
event does, so the two can be compared; waits shown to people (``retry_in``, "next probe in")
are seconds to a tenth.
"""

from __future__ import annotations

import time

__all__ = ["elapsed_ms", "shown_seconds"]


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a :func:`time.perf_counter` reading), to the microsecond."""
    return int((time.perf_counter() - started) * 1_000_000) / 1000


def shown_seconds(seconds: float) -> float:
    """A wait in seconds as people read it: to a tenth of a second."""
    return round(seconds, 1)
