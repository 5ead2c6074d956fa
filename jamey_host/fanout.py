"""Delivering audit events to every ``audit_event`` implementation, each isolated from the rest."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Final, final

from jamey_host.audit import AuditEvent, JsonLinesAuditLog
from jamey_host.hooks import NamedImpl, PluginHooks

log = logging.getLogger("jamey_host")

#: The plugin name of the runtime's own JSON-lines sink.
AUDIT_LOG_PLUGIN: Final = "jamey_host.audit_log"

# Once cancelled, a sink still writing gets this long to run its own clean-up, so that one which
# ignores the cancellation cannot hold close() either.
_CANCELLED_SINK_WAIT: Final = 1.0


@final
class AuditFanout:
    """The sinks of one runtime, read again whenever its plugins change.

    pluggy would stop a hook call at the first implementation that raises, so each sink is
    called on its own: one broken sink is logged and never silences another, nor breaks a call.
    An async sink's answer runs as a task, which :meth:`close` waits for, within a bound.
    """

    def __init__(self, hooks: PluginHooks) -> None:
        self._hooks = hooks
        self._audit_log = JsonLinesAuditLog()
        self._sinks: list[NamedImpl] = []
        self._plugin_sinks = False
        # The tasks of async sinks still writing, with the name of the plugin of each.
        self._writing: dict[asyncio.Future[Any], str] = {}
        hooks.register(self._audit_log, AUDIT_LOG_PLUGIN)
        self.refresh()

    def wanted(self) -> bool:
        """Whether an event emitted now would be read: a plugin sink, or the audit log enabled."""
        return self._plugin_sinks or self._audit_log.enabled()

    def emit(self, event: AuditEvent) -> None:
        """Give ``event`` to every sink; an async sink's answer is awaited in the background."""
        for plugin_name, sink in self._sinks:
            try:
                answer = sink(event)
                if answer is not None and inspect.isawaitable(answer):
                    self._track(asyncio.ensure_future(answer), plugin_name)
            except Exception:
                log.exception("audit_event of plugin %r raised; other sinks still run", plugin_name)

    def refresh(self) -> None:
        """Read the sinks again (after a plugin was registered or unregistered)."""
        self._sinks = self._hooks.audit_sinks()
        self._plugin_sinks = any(name != AUDIT_LOG_PLUGIN for name, _ in self._sinks)

    async def close(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for async sinks still writing, then cancel the rest.

        Each sink cut off is logged (``jamey_host`` logger, WARNING) by its plugin's name: the
        events it was writing may be missing from what it keeps.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._writing and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._writing), timeout=left)
        cut_off = list(self._writing.items())
        for task, plugin_name in cut_off:
            log.warning(
                "audit_event of plugin %r was still running %.1f s after the runtime began "
                "closing; cancelled (the event it was writing may be lost)",
                plugin_name,
                timeout,
            )
            task.cancel()
        if cut_off:
            await asyncio.wait([task for task, _ in cut_off], timeout=_CANCELLED_SINK_WAIT)

    def _track(self, task: asyncio.Future[Any], plugin_name: str) -> None:
        self._writing[task] = plugin_name
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        plugin_name = self._writing.pop(task, "?")
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "audit_event of plugin %r raised; other sinks still run",
                plugin_name,
                exc_info=task.exception(),
            )
