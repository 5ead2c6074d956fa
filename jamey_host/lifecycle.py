"""The plugins of one runtime: loading, starting, stopping and unregistering them.

Each plugin has one :class:`~jamey_host.plugin_record.PluginRecord`, kept here by name; the
connectors that can be called are indexed by id for the dispatch of calls. pluggy holds the
hook implementations of every plugin that is active (and of one whose shutdown is under way).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, final

from jamey_host.fanout import AUDIT_LOG_PLUGIN, AuditFanout
from jamey_host.hooks import PluginError, PluginHooks
from jamey_host.loading import (
    PluginCandidate,
    default_plugin_name,
    entry_point_candidates,
    instantiate,
    load_plugin_object,
    plugin_version,
)
from jamey_host.plugin_record import ConnectorRecord, PluginRecord
from jamey_host.redaction import redact_text
from jamey_host.specs import ConnectorSpec, PluginInfo

if TYPE_CHECKING:
    from jamey_host.runtime import Runtime

log = logging.getLogger("jamey_host")
#: The logger on which each plugin that fails to load or to start is reported, in one line.
PLUGINS_LOGGER_NAME: Final = "jamey_host.plugins"
plugins_log = logging.getLogger(PLUGINS_LOGGER_NAME)


@final
class PluginLifecycle:
    """Loads, starts, stops and unregisters the plugins of one runtime."""

    def __init__(self, runtime: Runtime, hooks: PluginHooks, fanout: AuditFanout) -> None:
        self._runtime = runtime
        self._config = runtime.config
        self._hooks = hooks
        self._fanout = fanout
        self._records: dict[str, PluginRecord] = {}
        # The connectors of the active plugins by id: an index of the records, for each call.
        self._connectors: dict[str, ConnectorRecord] = {}
        # Startups of plugins registered into a running runtime, and shutdowns after unregister.
        self._tasks: set[asyncio.Future[Any]] = set()
        self._running = False

    # -- what the runtime lists and calls ---------------------------------------------------

    def infos(self) -> list[PluginInfo]:
        """Every plugin, active, blocked or failed, in loading order."""
        return [record.info() for record in self._records.values()]

    def specs(self) -> list[ConnectorSpec]:
        """The specs of the connectors that can be called."""
        return [connector.spec for connector in self._connectors.values()]

    def connector(self, connector_id: str) -> ConnectorRecord | None:
        """The connector that a call of ``connector_id`` goes to, if it can be called."""
        return self._connectors.get(connector_id)

    def start_failure(self, connector_id: str) -> str | None:
        """Why the plugin that registered ``connector_id`` failed to start, if that is so."""
        for record in self._records.values():
            if record.start_failure is not None and any(
                connector.spec.id == connector_id for connector in record.connectors
            ):
                return record.start_failure
        return None

    # -- loading -----------------------------------------------------------------------------

    def load(self, *, entry_points: bool, objects: Iterable[object]) -> None:
        """Add the installed plugins (unless ``entry_points`` is false), then ``objects``.

        The plugins that failed to load are audited once all are registered, so that a sink
        loaded later, or given in ``objects``, receives those events too.
        """
        if entry_points:
            for candidate in entry_point_candidates(self._config):
                self._add_candidate(candidate)
        for plugin in objects:
            self._add_object(plugin)
        for record in list(self._records.values()):
            if record.status == "failed":
                self._audit_failure(record)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Add one plugin (``Runtime.register_plugin``); raise :class:`PluginError` if unusable.

        In a running runtime its startup begins at once, as a task that calls of its connectors
        wait for.
        """
        plugin = instantiate(plugin)
        name = name or self._free_name(default_plugin_name(plugin))
        existing = self._records.get(name)
        if self._hooks.has_plugin(name) or (existing is not None and existing.status == "active"):
            raise PluginError(f"a plugin named {name!r} is already registered")
        record = self._add(plugin, name, plugin_version(plugin), strict=True)
        if self._running:
            self._track(self._begin_startup(record))
        return name

    def _add_candidate(self, candidate: PluginCandidate) -> None:
        if candidate.blocked_reason is not None:
            self._records[candidate.name] = PluginRecord(
                name=candidate.name,
                plugin=None,
                version=candidate.version,
                status="blocked",
                error=candidate.blocked_reason,
            )
            return
        try:
            plugin = load_plugin_object(candidate)
        except PluginError as exc:
            self._refuse(candidate.name, candidate.version, str(exc))
            return
        self._add(plugin, candidate.name, candidate.version)

    def _add_object(self, plugin: object) -> None:
        name = self._free_name(default_plugin_name(plugin))
        try:
            plugin = instantiate(plugin)
        except PluginError as exc:
            self._refuse(name, None, str(exc))
            return
        self._add(plugin, name, plugin_version(plugin))

    def _add(
        self, plugin: object, name: str, version: str | None, *, strict: bool = False
    ) -> PluginRecord:
        """Register ``plugin`` with pluggy and record it with its connectors."""
        try:
            self._hooks.register(plugin, name)
        except PluginError as exc:  # nothing registered: another plugin may hold this name
            return self._refuse(name, version, str(exc), strict=strict)
        try:
            specs = self._hooks.connector_specs(name)
            execute = self._hooks.executor(name)
            self._check_connectors(specs, execute)
        except Exception as exc:
            self._hooks.unregister(name)
            reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            return self._refuse(name, version, reason, strict=strict)
        record = PluginRecord(name=name, plugin=plugin, version=version)
        if execute is not None:
            record.connectors = tuple(
                ConnectorRecord(
                    spec=spec,
                    plugin=record,
                    execute=execute,
                    settings=self._config.settings_for(spec.id),
                )
                for spec in specs
            )
        self._records[name] = record
        for connector in record.connectors:
            self._connectors[connector.spec.id] = connector
        self._fanout.refresh()
        return record

    def _check_connectors(
        self, specs: list[ConnectorSpec], execute: Callable[..., Any] | None
    ) -> None:
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise PluginError("register_connectors returned the same connector id twice")
        for spec in specs:
            owner = self._connectors.get(spec.id)
            if owner is not None:
                raise PluginError(
                    f"connector id {spec.id!r} is already registered by plugin "
                    f"{owner.plugin.name!r}"
                )
        if specs and execute is None:
            raise PluginError("registers connectors but does not implement execute_connector")

    def _refuse(
        self, name: str, version: str | None, reason: str, *, strict: bool = False
    ) -> PluginRecord:
        """A plugin that cannot be used: raise for ``register_plugin``, else record it failed."""
        if strict:
            raise PluginError(f"plugin {name!r} cannot be registered: {reason}")
        return self._fail(
            PluginRecord(name=name, plugin=None, version=version, status="failed", error=reason)
        )

    def _fail(self, record: PluginRecord) -> PluginRecord:
        """Keep a failed plugin's record and report it; with ``strict_plugins``, raise."""
        self._records[record.name] = record
        plugins_log.warning("jamey_host: plugin %r skipped: %s", record.name, record.error)
        if self._running:  # load() audits its own failures once every plugin is in
            self._audit_failure(record)
        if self._config.strict_plugins:
            raise PluginError(f"plugin {record.name!r} failed to load: {record.error}")
        return record

    def _audit_failure(self, record: PluginRecord) -> None:
        self._runtime.audit(
            "plugin.load_failed", outcome="failure", plugin=record.name, error=record.error
        )

    def _free_name(self, name: str) -> str:
        # Two objects of one class get distinct default names, as pluggy needs.
        candidate, number = name, 1
        while self._hooks.has_plugin(candidate) or candidate in self._records:
            number += 1
            candidate = f"{name}-{number}"
        return candidate

    # -- starting ----------------------------------------------------------------------------

    async def start_all(self) -> None:
        """Run the startup of every active plugin, one after the other, in loading order."""
        self._running = True
        for record in list(self._records.values()):
            if record.status == "active":
                await self._begin_startup(record)

    def _begin_startup(self, record: PluginRecord) -> asyncio.Future[bool]:
        starting = asyncio.ensure_future(self._start(record))
        record.starting = starting

        def done(_: object) -> None:
            record.starting = None

        starting.add_done_callback(done)
        return starting

    async def _start(self, record: PluginRecord) -> bool:
        """Run one plugin's startup; return whether it started (and so is owed a shutdown)."""
        startup = self._hooks.lifecycle("runtime_startup", record.name)
        try:
            if startup is not None:
                answer = startup(self._runtime)
                if inspect.isawaitable(answer):
                    await answer
        except Exception as exc:
            # The reason is reported in one line by _fail; the traceback is for DEBUG.
            log.debug("runtime_startup of plugin %r raised", record.name, exc_info=True)
            self._withdraw(record)
            if self._records.get(record.name) is record:  # else it was unregistered meanwhile
                record.status = "failed"
                record.error = f"runtime_startup failed: {type(exc).__name__}: {exc}"
                record.start_failure = redact_text(str(exc) or type(exc).__name__)
                self._fail(record)
            return False
        record.started = True
        if self._records.get(record.name) is not record:  # unregistered while it started
            await self._stop(record)
        return True

    # -- stopping and unregistering ------------------------------------------------------------

    async def stop_all(self) -> None:
        """Stop every started plugin, newest first, once the startups under way are over.

        A plugin's shutdown that raises is logged; the others still run.
        """
        self._running = False
        while self._tasks:
            await asyncio.wait(list(self._tasks))
        for record in reversed(list(self._records.values())):
            if record.started:
                await self._stop(record)

    def unregister(self, name: str) -> None:
        """Remove a plugin and its connectors; a started one gets its shutdown."""
        record = self._records.get(name)
        if record is None or name == AUDIT_LOG_PLUGIN:
            raise KeyError(f"no plugin named {name!r}")
        del self._records[name]
        self._drop_connectors(record)
        if record.starting is not None:
            return  # _start stops it once its startup is over
        if not record.started:
            self._forget(record)
            return
        record.started = False
        answer = self._begin_shutdown(record)
        if answer is None:
            self._forget(record)
        else:
            self._track(asyncio.ensure_future(self._finish_shutdown(record, answer)))

    async def _stop(self, record: PluginRecord) -> None:
        record.started = False
        answer = self._begin_shutdown(record)
        if answer is not None:
            await self._finish_shutdown(record, answer)
        elif self._records.get(record.name) is not record:  # unregistered: its hooks go too
            self._forget(record)

    def _begin_shutdown(self, record: PluginRecord) -> Awaitable[Any] | None:
        """Call one plugin's shutdown; an async one comes back as an awaitable."""
        shutdown = self._hooks.lifecycle("runtime_shutdown", record.name)
        try:
            answer = shutdown(self._runtime) if shutdown is not None else None
        except Exception:
            log.exception("runtime_shutdown of plugin %r raised", record.name)
            return None
        return answer if inspect.isawaitable(answer) else None

    async def _finish_shutdown(self, record: PluginRecord, answer: Awaitable[Any]) -> None:
        try:
            await answer
        except Exception:
            log.exception("runtime_shutdown of plugin %r raised", record.name)
        finally:
            if self._records.get(record.name) is not record:
                self._forget(record)

    def _withdraw(self, record: PluginRecord) -> None:
        """Take a plugin out of service: its connectors and its hooks."""
        self._drop_connectors(record)
        self._forget(record)

    def _drop_connectors(self, record: PluginRecord) -> None:
        for connector in record.connectors:
            if self._connectors.get(connector.spec.id) is connector:
                del self._connectors[connector.spec.id]

    def _forget(self, record: PluginRecord) -> None:
        self._hooks.unregister(record.name)
        self._fanout.refresh()

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a plugin's startup or shutdown failed", exc_info=task.exception())
