"""How the connector reports time: the host's rounding for audit events, one for people.

Audit events carry ``duration_ms`` as the runtime's own ``connector.execute`` event does (the
host's :func:`jamey_host.elapsed_ms`, re-exported here), so the two compare; waits shown to
people (``retry_in``, "next probe in") are seconds to a tenth.
"""

from __future__ import annotations

from jamey_host import elapsed_ms

__all__ = ["elapsed_ms", "shown_seconds"]


def shown_seconds(seconds: float) -> float:
    """A wait in seconds as people read it: to a tenth of a second."""
    return round(seconds, 1)
