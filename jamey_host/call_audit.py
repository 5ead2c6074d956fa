"""The audit trail of one connector call: the events its connector emits, and its own event."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final, final

import attrs

from jamey_host.audit import AuditEvent, Outcome
from jamey_host.durations import elapsed_ms
from jamey_host.redaction import scrub
from jamey_host.results import ConnectorResult

#: Delivers one event to the sinks.
Emit = Callable[[AuditEvent], None]


@final
class CallAudit:
    """What one call reports to the audit trail.

    The runtime makes one for a call only when a sink listens, and hands it to the call's
    :class:`~jamey_host.ExecutionContext`; a call with no listener has none, so nothing about
    its events is ever computed. It collects the connector's :meth:`annotate` notes and, when
    the call ends, emits the call's one ``connector.execute`` event (:meth:`finish`).

    The call's secret values (:meth:`conceal`) are replaced by ``***`` in every event of the
    call, under whatever name they appear: key-name redaction alone misses a connector that
    audits a key as ``received=...``, or a param that its action spec declares ``secret``.
    """

    __slots__ = ("_emit", "_notes", "_secrets", "_started")

    def __init__(self, emit: Emit) -> None:
        self._emit: Final = emit
        self._notes: Final[dict[str, Any]] = {}
        self._started: Final = time.perf_counter()
        self._secrets: tuple[str, ...] = ()

    def conceal(self, secrets: tuple[str, ...]) -> None:
        """Hide ``secrets`` (values, longest first) from every event of the call from now on."""
        self._secrets = secrets

    def emit(self, event: AuditEvent) -> None:
        """Deliver an event the connector emitted during the call."""
        if self._secrets:
            event = _scrubbed(event, self._secrets)
        self._emit(event)

    def annotate(self, details: Mapping[str, Any]) -> None:
        """Keep ``details`` for the call's own ``connector.execute`` event."""
        self._notes.update(details)

    def finish(
        self,
        *,
        connector: str,
        action: str | None,
        user_id: str | None,
        session_id: str | None,
        params: object,
        result: ConnectorResult,
        outcome: Outcome,
    ) -> None:
        """Emit the call's ``connector.execute`` event: how it ended, how long it took.

        The runtime's own details (``duration_ms``, ``params``, ``agents_contacted``) come
        first and are never replaced by a note; a note named ``error`` is dropped, since the
        event's ``error`` is the result's. ``params`` that are not a mapping (a bad call) are
        recorded by their type only.
        """
        details: dict[str, Any] = {
            "duration_ms": elapsed_ms(self._started),
            "params": params if isinstance(params, Mapping) else repr(type(params)),
        }
        if result.agents_contacted:
            details["agents_contacted"] = result.agents_contacted
        for key, value in self._notes.items():
            if key != "error":
                details.setdefault(key, value)
        event = AuditEvent.create(
            "connector.execute",
            outcome=outcome,
            connector=connector,
            action=action,
            user_id=user_id,
            session_id=session_id,
            details=details,
            error="; ".join(result.errors) if result.errors else None,
        )
        self.emit(event)


def _scrubbed(event: AuditEvent, secrets: tuple[str, ...]) -> AuditEvent:
    return attrs.evolve(
        event, details=scrub(event.details, secrets), error=scrub(event.error, secrets)
    )
