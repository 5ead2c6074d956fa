"""What a connector call knows about itself, and how it reports to the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

import attrs

from jamey_host.audit import AuditEvent, Outcome

#: Delivers an event to the runtime's sinks; ``None`` when no sink would read it.
EventEmitter = Callable[[AuditEvent], None]


@final
@attrs.frozen
class ExecutionContext:
    """The context of one ``execute_connector`` call, handed to the connector.

    ``settings`` are this connector's settings from :class:`~jamey_host.RuntimeConfig`, read-only.
    """

    connector: str
    action: str | None
    user_id: str | None
    session_id: str | None
    settings: Mapping[str, str]
    _emit: EventEmitter | None = attrs.field(default=None, repr=False, alias="emit")
    _notes: dict[str, Any] | None = attrs.field(default=None, repr=False, alias="notes")

    @property
    def auditing(self) -> bool:
        """Whether an event emitted now would reach a sink.

        Guard the building of costly details with it; :meth:`audit` itself is a no-op then::

            if context.auditing:
                context.audit("task.sent", outcome="success", origin=url.origin())
        """
        return self._emit is not None

    def annotate(self, **details: Any) -> None:
        """Add ``details`` to this call's own ``connector.execute`` event.

        For facts about the call as a whole (which agent served it, after how many attempts),
        one line in the trail is cheaper to write and easier to read than a second event. The
        runtime's own entries (``duration_ms``, ``params``, ``agents_contacted`` and the
        ``error`` field) are never replaced; ``details`` are redacted like any others. A no-op
        when no sink listens::

            context.annotate(agent_id="a1", attempts=2)
        """
        if self._notes is not None:
            self._notes.update(details)

    def audit(self, event: str, *, outcome: Outcome, **details: Any) -> None:
        """Emit an audit event stamped with this call's connector, action, user and session.

        ``details`` are redacted before any sink sees them; an ``error`` detail becomes the
        event's ``error`` field::

            context.audit("agent.registered", outcome="success", agent_id="a1")
        """
        if self._emit is None:
            return
        self._emit(
            AuditEvent.create(
                event,
                outcome=outcome,
                connector=self.connector,
                action=self.action,
                user_id=self.user_id,
                session_id=self.session_id,
                details=details,
            )
        )
