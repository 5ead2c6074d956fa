"""What a connector call knows about itself, and how it reports to the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

from jamey_host.audit import AuditEvent, Outcome

#: Delivers an event to the runtime's sinks; ``None`` when no sink would read it.
EventEmitter = Callable[[AuditEvent], None]


@final
class ExecutionContext:
    """The context of one ``execute_connector`` call, handed to the connector. Read-only.

    ``settings`` are this connector's settings from :class:`~jamey_host.RuntimeConfig`, read-only.
    """

    # A plain slotted class with read-only properties, not a frozen attrs class: one context is
    # built for every call, and a frozen class pays an object.__setattr__ call per field.
    __slots__ = ("_action", "_connector", "_emit", "_notes", "_session_id", "_settings", "_user_id")

    def __init__(
        self,
        connector: str,
        action: str | None,
        user_id: str | None,
        session_id: str | None,
        settings: Mapping[str, str],
        emit: EventEmitter | None = None,
        notes: dict[str, Any] | None = None,
    ) -> None:
        """``emit`` delivers events (``None``: nobody listens); ``notes`` collects annotations."""
        self._connector = connector
        self._action = action
        self._user_id = user_id
        self._session_id = session_id
        self._settings = settings
        self._emit = emit
        self._notes = notes

    @property
    def connector(self) -> str:
        """The connector id being called."""
        return self._connector

    @property
    def action(self) -> str | None:
        """The ``action`` param, or ``None``."""
        return self._action

    @property
    def user_id(self) -> str | None:
        """Who is calling, as the host said."""
        return self._user_id

    @property
    def session_id(self) -> str | None:
        """The host's session, if it gave one."""
        return self._session_id

    @property
    def settings(self) -> Mapping[str, str]:
        """This connector's settings, read-only."""
        return self._settings

    def __repr__(self) -> str:
        return (
            f"ExecutionContext(connector={self._connector!r}, action={self._action!r}, "
            f"user_id={self._user_id!r}, session_id={self._session_id!r}, "
            f"settings={self._settings!r})"
        )

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
