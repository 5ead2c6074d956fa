"""Durations as the audit trail records them: one rounding for every ``duration_ms``."""

from __future__ import annotations

import time

__all__ = ["elapsed_ms"]


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a :func:`time.perf_counter` value), to the microsecond.

    The host's ``connector.execute`` events and a connector's own events use it alike, so that
    durations in one trail compare::

        started = time.perf_counter()
        ...
        context.audit("task.sent", outcome="success", duration_ms=elapsed_ms(started))
    """
    return round((time.perf_counter() - started) * 1000, 3)
