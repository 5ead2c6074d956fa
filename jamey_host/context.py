"""What a connector call knows about itself, and how it reports to the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, final

from jamey_host.audit import AuditEvent, Outcome
from jamey_host.call_audit import CallAudit


@final
class ExecutionContext:
    """The context of one ``execute_connector`` call, handed to the connector. Read-only.

    Its attributes are ``Final``, so a type checker refuses a connector that assigns one (a
    changed ``user_id`` would mislabel the audit trail), and ``__slots__`` refuses new ones;
    as for pluggy's own ``HookImpl``, that is read-only enough for an object made per call.
    """

    __slots__ = ("_call_audit", "action", "connector", "session_id", "settings", "user_id")

    def __init__(
        self,
        *,
        connector: str,
        action: str | None,
        user_id: str | None,
        session_id: str | None,
        settings: Mapping[str, str],
        call_audit: CallAudit | None = None,
    ) -> None:
        #: The connector id being called.
        self.connector: Final = connector
        #: The ``action`` param, or ``None``.
        self.action: Final = action
        #: Who is calling, as the host said.
        self.user_id: Final = user_id
        #: The host's session, if it gave one.
        self.session_id: Final = session_id
        #: This connector's settings from :class:`~jamey_host.RuntimeConfig`, read-only.
        self.settings: Final = settings
        # The call's audit trail; None when no sink listens.
        self._call_audit: Final = call_audit

    def __repr__(self) -> str:
        return (
            f"ExecutionContext(connector={self.connector!r}, action={self.action!r}, "
            f"user_id={self.user_id!r}, session_id={self.session_id!r}, "
            f"settings={self.settings!r})"
        )

    @property
    def auditing(self) -> bool:
        """Whether an event emitted now would reach a sink.

        Guard the building of costly details with it; :meth:`audit` itself is a no-op then::

            if context.auditing:
                context.audit("task.sent", outcome="success", origin=url.origin())
        """
        return self._call_audit is not None

    def annotate(self, **details: Any) -> None:
        """Add ``details`` to this call's own ``connector.execute`` event.

        For facts about the call as a whole (which agent served it, after how many attempts),
        one line in the trail is cheaper to write and easier to read than a second event. The
        runtime's own entries (``duration_ms``, ``params``, ``agents_contacted`` and the
        ``error`` field) are never replaced; ``details`` are redacted like any others. A no-op
        when no sink listens::

            context.annotate(agent_id="a1", attempts=2)
        """
        if self._call_audit is not None:
            self._call_audit.annotate(details)

    def audit(self, event: str, *, outcome: Outcome, **details: Any) -> None:
        """Emit an audit event stamped with this call's connector, action, user and session.

        ``details`` are redacted before any sink sees them; an ``error`` detail becomes the
        event's ``error`` field. A no-op when no sink listens::

            context.audit("agent.registered", outcome="success", agent_id="a1")
        """
        if self._call_audit is None:
            return
        self._call_audit.emit(
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
