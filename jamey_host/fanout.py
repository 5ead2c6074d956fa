"""Delivering audit events to every ``audit_event`` implementation, each isolated from the rest."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, Final, final

from jamey_host.audit import AuditEvent, JsonLinesAuditLog
from jamey_host.hooks import NamedImpl, PluginHooks

log = logging.getLogger("jamey_host")

#: The plugin name of the runtime's own JSON-lines sink.
AUDIT_LOG_PLUGIN: Final = "jamey_host.audit_log"


@final
class AuditFanout:
    """The sinks of one runtime, cached between plugin changes.

    pluggy would stop a hook call at the first implementation that raises, so each sink is
    called on its own: one broken sink is logged and never silences another, nor breaks a call.
    """

    def __init__(self, hooks: PluginHooks, track: Callable[[asyncio.Future[Any]], None]) -> None:
        self._hooks = hooks
        self._track = track
        self._audit_log = JsonLinesAuditLog()
        self._audit_logger = self._audit_log.logger
        self._sinks: list[NamedImpl] = []
        self._plugin_sinks = False
        hooks.register(self._audit_log, AUDIT_LOG_PLUGIN)
        self.refresh()

    def wanted(self) -> bool:
        """Whether an event emitted now would be read: a plugin sink, or the audit log enabled."""
        return self._plugin_sinks or self._audit_logger.isEnabledFor(logging.INFO)

    def emit(self, event: AuditEvent) -> None:
        """Give ``event`` to every sink; an async sink's answer is awaited in the background."""
        for plugin_name, sink in self._sinks:
            try:
                answer = sink(event)
                if answer is not None and inspect.isawaitable(answer):
                    self._track(asyncio.ensure_future(answer))
            except Exception:
                log.exception("audit_event of plugin %r raised; other sinks still run", plugin_name)

    def refresh(self) -> None:
        """Read the sinks again (after a plugin was registered or unregistered)."""
        self._sinks = self._hooks.audit_sinks()
        self._plugin_sinks = any(name != AUDIT_LOG_PLUGIN for name, _ in self._sinks)
