"""What a connector call knows about itself, and how it reports to the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import attrs

from jamey_host.audit import AuditEvent, Outcome
from jamey_host.call_audit import CallAudit


# Frozen, not merely typed Final: the connector is handed this object, and must not be able to
# relabel the events it emits (a changed user_id would mislabel the audit trail).
@final
@attrs.frozen(kw_only=True, eq=False)
class ExecutionContext:
    """The context of one ``execute_connector`` call, handed to the connector. Read-only."""

    #: The connector id being called.
    connector: str
    #: The ``action`` param, or ``None``.
    action: str | None
    #: Who is calling, as the host said.
    user_id: str | None
    #: The host's session, if it gave one.
    session_id: str | None
    #: This connector's settings from :class:`~jamey_host.RuntimeConfig`, read-only.
    settings: Mapping[str, str]
    # The call's audit trail; None when no sink listens.
    _call_audit: CallAudit | None = attrs.field(default=None, repr=False, alias="call_audit")

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
