"""The runtime: loads plugins, gates and dispatches connector calls, and audits everything."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import CoroutineType, TracebackType
from typing import Any, Final, final

import attrs

from jamey_host.audit import AuditEvent, Outcome
from jamey_host.config import RuntimeConfig
from jamey_host.context import ExecutionContext
from jamey_host.fanout import AUDIT_LOG_PLUGIN, AuditFanout
from jamey_host.gating import ApprovalRequest, approval_refusal, capability_refusal
from jamey_host.hooks import PluginError, PluginHooks
from jamey_host.loading import (
    PluginCandidate,
    default_plugin_name,
    entry_point_candidates,
    instantiate,
    load_plugin_object,
)
from jamey_host.redaction import has_secret_key, redact
from jamey_host.results import ConnectorResult
from jamey_host.specs import ConnectorSpec, PluginInfo

log = logging.getLogger("jamey_host")


# The result a cancelled call is audited with (the caller gets the CancelledError, not this).
_CANCELLED: Final = ConnectorResult(False, errors=["Cancelled before it finished"])


@attrs.frozen
class _Connector:
    spec: ConnectorSpec
    plugin: str
    execute: Callable[..., Any]
    refusal: str | None  # why every call is denied (capability not granted), or None


def _version_of(plugin: object) -> str | None:
    version = getattr(plugin, "__version__", None)
    return version if isinstance(version, str) else None


def _params_problem(params: object) -> str | None:
    # ``type(...) is`` first: this runs on every call, and an ABC isinstance check is slow.
    if type(params) is not dict and not isinstance(params, Mapping):
        return f"Invalid params: expected a mapping of str to str, got {type(params).__name__}"
    for key, value in params.items():
        if type(key) is not str and not isinstance(key, str):
            return f"Invalid params: key {key!r} is {type(key).__name__}, not str"
        if type(value) is not str and not isinstance(value, str):
            return f"Invalid params: value of {key!r} is {type(value).__name__}, not str"
    return None


@final
class Runtime:
    """Hosts connector plugins: ``async with Runtime(config) as runtime: ...``.

    Entering loads the plugins (installed entry points unless ``load_entrypoints=False``, plus
    the objects in ``plugins``) and runs their ``runtime_startup``; leaving runs
    ``runtime_shutdown`` for every plugin that started. :meth:`execute_connector` never raises
    for a failure of the call itself: it returns a failed :class:`ConnectorResult`.
    """

    def __init__(
        self,
        config: RuntimeConfig | None = None,
        *,
        plugins: Iterable[object] = (),
        load_entrypoints: bool = True,
    ) -> None:
        self.config: Final = config if config is not None else RuntimeConfig()
        self._initial_plugins = tuple(plugins)
        self._load_entrypoints = load_entrypoints
        self._hooks = PluginHooks()
        self._infos: dict[str, PluginInfo] = {}
        self._connectors: dict[str, _Connector] = {}
        self._started: list[str] = []
        self._starting: dict[str, asyncio.Future[bool]] = {}
        self._deferred_failures: list[tuple[str, str]] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._fanout = AuditFanout(self._hooks, self._track)
        self._settings: dict[str, Mapping[str, str]] = {}  # the config is frozen: build once
        self._running = False
        self._closed = False
        # Calls under way, so that close() lets them finish before plugins shut down; close()
        # sets _drained when it has to wait, and the last call to finish resolves it.
        self._in_flight = 0
        self._drained: asyncio.Future[None] | None = None
        # Connector ids of plugins that failed to start, with the reason, for a clearer error.
        self._unavailable: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Load and start the plugins. With ``strict_plugins``, a failure raises ``PluginError``."""
        if self._running or self._closed:
            raise RuntimeError("a Runtime can be started only once")
        try:
            # Load failures are audited once every plugin is registered, so that sinks loaded
            # later (or passed in ``plugins``) receive them too.
            self._deferred_failures = []
            if self._load_entrypoints:
                for candidate in entry_point_candidates(self.config):
                    self._add_candidate(candidate)
            for plugin in self._initial_plugins:
                self._add_object(plugin)
            deferred, self._deferred_failures = self._deferred_failures, None
            for plugin_name, reason in deferred:
                self.audit(
                    "plugin.load_failed", outcome="failure", plugin=plugin_name, error=reason
                )
            self._running = True
            for name in list(self._infos):
                if self._infos[name].status == "active":
                    await self._start_plugin(name)
        except BaseException:
            await self.close()
            raise

    async def close(self, *, grace: float = 10.0) -> None:
        """Shut down: refuse new calls, let calls under way finish, then stop the plugins.

        Calls still running after ``grace`` seconds go on without their plugins' resources (and
        fail accordingly); then every started plugin's ``runtime_shutdown`` runs, newest first.
        Closing twice is a no-op.
        """
        if self._closed:
            return
        self._closed = True
        self._running = False
        if self._in_flight:
            self._drained = asyncio.get_running_loop().create_future()
            await asyncio.wait([self._drained], timeout=grace)
        for name in reversed(self._started):
            await self._stop_plugin(name)
        self._started.clear()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- plugins ---------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin the runtime knows, active, blocked or failed, in loading order."""
        return list(self._infos.values())

    def connectors(self) -> list[ConnectorSpec]:
        """The specs of the connectors that can be called."""
        return [connector.spec for connector in self._connectors.values()]

    def settings_for(self, connector_id: str) -> Mapping[str, str]:
        """The settings of one connector from the configuration, read-only."""
        return self.config.settings_for(connector_id)

    def register_plugin(self, plugin: object, name: str | None = None) -> str:
        """Add a plugin object (or class, instantiated here) and return its name.

        Raises ``PluginError`` if it cannot be used. In a running runtime its
        ``runtime_startup`` runs at once; an async one runs as a task that calls of its
        connectors wait for.
        """
        plugin = instantiate(plugin)
        name = name or self._free_name(default_plugin_name(plugin))
        if self._hooks.has_plugin(name) or (
            self._infos.get(name, None) is not None and (self._infos[name].status == "active")
        ):
            raise PluginError(f"a plugin named {name!r} is already registered")
        info = self._add(plugin, name, version=_version_of(plugin), strict=True)
        if self._running and info.status == "active":
            task = asyncio.ensure_future(self._start_plugin(name))
            self._starting[name] = task
            self._track(task)
            task.add_done_callback(lambda _: self._starting.pop(name, None))
        return name

    def _free_name(self, name: str) -> str:
        # Two objects of one class get distinct default names, as pluggy needs.
        candidate, number = name, 1
        while self._hooks.has_plugin(candidate) or candidate in self._infos:
            number += 1
            candidate = f"{name}-{number}"
        return candidate

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and its connectors, running its ``runtime_shutdown`` if it started."""
        if name not in self._infos or name == AUDIT_LOG_PLUGIN:
            raise KeyError(f"no plugin named {name!r}")
        info = self._infos.pop(name)
        for connector_id in info.connectors:
            owner = self._connectors.get(connector_id)
            if owner is not None and owner.plugin == name:
                del self._connectors[connector_id]
        starting = self._starting.get(name)
        if starting is not None:
            self._track(asyncio.ensure_future(self._stop_after_startup(name, starting)))
        elif name in self._started:
            self._started.remove(name)
            answer = self._begin_shutdown(name)
            if answer is None:
                self._forget_hooks(name)
            else:
                self._track(asyncio.ensure_future(self._finish_shutdown(name, answer)))
        else:
            self._forget_hooks(name)

    async def _stop_after_startup(self, name: str, starting: asyncio.Future[bool]) -> None:
        if await asyncio.shield(starting):
            await self._stop_plugin(name)
        else:
            self._forget_hooks(name)

    def _add_candidate(self, candidate: PluginCandidate) -> None:
        if candidate.blocked_reason is not None:
            self._infos[candidate.name] = PluginInfo(
                candidate.name, candidate.version, "blocked", candidate.blocked_reason
            )
            return
        try:
            plugin = load_plugin_object(candidate)
        except PluginError as exc:
            self._record_failure(candidate.name, candidate.version, str(exc))
            return
        self._add(plugin, candidate.name, candidate.version)

    def _add_object(self, plugin: object) -> None:
        name = self._free_name(default_plugin_name(plugin))
        try:
            plugin = instantiate(plugin)
        except PluginError as exc:
            self._record_failure(name, None, str(exc))
            return
        self._add(plugin, name, version=_version_of(plugin))

    def _add(
        self, plugin: object, name: str, version: str | None, *, strict: bool = False
    ) -> PluginInfo:
        registered = False
        try:
            self._hooks.register(plugin, name)
            registered = True
            specs = self._hooks.connector_specs(name)
            execute = self._hooks.executor(name)
            self._check_connectors(name, specs, execute)
        except Exception as exc:
            if registered:  # never touch another plugin that already holds this name
                self._hooks.unregister(name)
            reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            if strict:
                raise PluginError(f"plugin {name!r} cannot be registered: {reason}") from None
            return self._record_failure(name, version, reason)
        for spec in specs:
            assert execute is not None  # checked by _check_connectors
            # The granted levels are fixed for the runtime's life: judge the level once, here.
            refusal = capability_refusal(spec, self.config.granted_capabilities)
            self._connectors[spec.id] = _Connector(spec, name, execute, refusal)
        info = PluginInfo(name, version, "active", None, tuple(spec.id for spec in specs))
        self._infos[name] = info
        self._refresh_sinks()
        return info

    def _check_connectors(
        self, name: str, specs: list[ConnectorSpec], execute: Callable[..., Any] | None
    ) -> None:
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise PluginError("register_connectors returned the same connector id twice")
        for spec in specs:
            owner = self._connectors.get(spec.id)
            if owner is not None:
                raise PluginError(
                    f"connector id {spec.id!r} is already registered by plugin {owner.plugin!r}"
                )
        if specs and execute is None:
            raise PluginError("registers connectors but does not implement execute_connector")

    def _record_failure(self, name: str, version: str | None, reason: str) -> PluginInfo:
        info = PluginInfo(name, version, "failed", reason)
        self._infos[name] = info
        log.warning("jamey_host: plugin %r skipped: %s", name, reason)
        if self._deferred_failures is not None:
            self._deferred_failures.append((name, reason))
        else:
            self.audit("plugin.load_failed", outcome="failure", plugin=name, error=reason)
        if self.config.strict_plugins:
            raise PluginError(f"plugin {name!r} failed to load: {reason}")
        return info

    async def _start_plugin(self, name: str) -> bool:
        """Run one plugin's startup; return whether it started (and so needs a shutdown)."""
        startup = self._hooks.lifecycle("runtime_startup", name)
        try:
            if startup is not None:
                answer = startup(self)
                if inspect.isawaitable(answer):
                    await answer
        except Exception as exc:
            # The reason is logged in one line by _record_failure; the traceback is for DEBUG.
            log.debug("runtime_startup of plugin %r raised", name, exc_info=True)
            info = self._infos.get(name)
            self._detach(name)
            if info is not None:  # not unregistered meanwhile
                reason = f"runtime_startup failed: {type(exc).__name__}: {exc}"
                for connector_id in info.connectors:
                    self._unavailable[connector_id] = f"plugin {name!r} failed to start: {exc}"
                self._record_failure(name, info.version, reason)
            return False
        if name in self._infos:  # else unregister_plugin stops it once startup is over
            self._started.append(name)
        return True

    def _begin_shutdown(self, name: str) -> Awaitable[Any] | None:
        """Call one plugin's shutdown; an async one comes back as an awaitable."""
        shutdown = self._hooks.lifecycle("runtime_shutdown", name)
        try:
            answer = shutdown(self) if shutdown is not None else None
        except Exception:
            log.exception("runtime_shutdown of plugin %r raised", name)
            return None
        return answer if inspect.isawaitable(answer) else None

    async def _finish_shutdown(self, name: str, answer: Awaitable[Any]) -> None:
        try:
            await answer
        except Exception:
            log.exception("runtime_shutdown of plugin %r raised", name)
        finally:
            if name not in self._infos:
                self._forget_hooks(name)

    async def _stop_plugin(self, name: str) -> None:
        answer = self._begin_shutdown(name)
        if answer is not None:
            await self._finish_shutdown(name, answer)
        elif name not in self._infos:
            self._forget_hooks(name)

    def _detach(self, name: str) -> None:
        for connector_id in [c for c, conn in self._connectors.items() if conn.plugin == name]:
            del self._connectors[connector_id]
        self._forget_hooks(name)

    def _forget_hooks(self, name: str) -> None:
        self._hooks.unregister(name)
        self._refresh_sinks()

    # -- calls -----------------------------------------------------------------------------

    async def execute_connector(
        self,
        name: str,
        params: Mapping[str, str],
        *,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> ConnectorResult:
        """Call connector ``name``; every failure comes back as a failed result, never raised.

        The call's audit events go to the sinks present when it starts.
        """
        # What the call's connector.execute event will hold besides the runtime's own entries;
        # None when no sink listens, and then nothing about the event is computed at all.
        notes: dict[str, Any] | None = {} if self._fanout.wanted() else None
        started = time.perf_counter() if notes is not None else 0.0
        outcome: Outcome = "failure"
        action: str | None = None
        result = _CANCELLED
        self._in_flight += 1
        try:
            problem = _params_problem(params)
            if problem is not None:
                result = ConnectorResult.fail(problem)
            else:
                action = params.get("action")
                result, outcome = await self._dispatch(
                    name, params, action, user_id, session_id, notes
                )
        except Exception as exc:  # a bug of the runtime itself must still not reach the caller
            log.exception("execute_connector(%r) failed inside the runtime", name)
            result = ConnectorResult.fail(
                f"Internal error while calling {name}: {type(exc).__name__}"
            )
            outcome = "failure"
        finally:
            # Also when the caller cancels the call: every call is audited, whatever its end.
            self._in_flight -= 1
            if self._drained is not None and not self._in_flight and not self._drained.done():
                self._drained.set_result(None)
            if notes is not None:
                self._emit_execute_event(
                    name, params, action, user_id, session_id, result, outcome, started, notes
                )
        return result

    async def _dispatch(
        self,
        name: str,
        params: Mapping[str, str],
        action: str | None,
        user_id: str | None,
        session_id: str | None,
        notes: dict[str, Any] | None,
    ) -> tuple[ConnectorResult, Outcome]:
        if not self._running:
            not_running = "Runtime is not running: use 'async with Runtime(...)'"
            return ConnectorResult.fail(not_running), "failure"
        connector = self._connectors.get(name) if isinstance(name, str) else None
        if connector is None:
            return self._not_found(name), "failure"
        spec = connector.spec
        refusal = connector.refusal
        if refusal is None and spec.requires_approval:
            request = ApprovalRequest(name, action, redact(params), user_id, session_id)
            refusal = await approval_refusal(self._hooks, request)
        if refusal is not None:
            return ConnectorResult.fail(refusal), "denied"
        if self._starting and connector.plugin in self._starting:
            await asyncio.shield(self._starting[connector.plugin])
            if self._connectors.get(name) is not connector:  # its startup failed meanwhile
                return self._not_found(name), "failure"
        # Positional: keyword matching would cost a third of building the context, on every call.
        emit = None if notes is None else self._fanout.emit
        context = ExecutionContext(
            name, action, user_id, session_id, self._settings_of(name), emit, notes
        )
        try:
            result = connector.execute(name, dict(params), context)
            # A coroutine is by far the most common awaitable: check it without a call.
            if type(result) is CoroutineType or inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.exception("connector %r (plugin %r) raised", name, connector.plugin)
            failed = (
                f"Connector {name} failed: {type(exc).__name__} (details in the jamey_host log)"
            )
            return ConnectorResult.fail(failed), "failure"
        if type(result) is not ConnectorResult and not isinstance(result, ConnectorResult):
            wrong = f"Connector {name} returned {type(result).__name__}, not a ConnectorResult"
            return ConnectorResult.fail(wrong), "failure"
        metadata = result.metadata
        if metadata and has_secret_key(metadata):
            result.metadata = redact(metadata)
        return result, "success" if result.success else "failure"

    def _not_found(self, name: object) -> ConnectorResult:
        reason = self._unavailable.get(name) if isinstance(name, str) else None
        warnings = [] if reason is None else [reason]  # why a connector once listed is gone
        return ConnectorResult.fail(f"Connector not found: {name}", warnings=warnings)

    def _settings_of(self, connector_id: str) -> Mapping[str, str]:
        settings = self._settings.get(connector_id)
        if settings is None:
            settings = self._settings[connector_id] = self.config.settings_for(connector_id)
        return settings

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self, event: str, *, outcome: Outcome, connector: str | None = None, **details: Any
    ) -> None:
        """Emit an audit event outside any call, e.g. from ``runtime_startup``."""
        if self._fanout.wanted():
            self._emit(
                AuditEvent.create(event, outcome=outcome, connector=connector, details=details)
            )

    def _emit_execute_event(
        self,
        name: str,
        params: object,
        action: str | None,
        user_id: str | None,
        session_id: str | None,
        result: ConnectorResult,
        outcome: Outcome,
        started: float,
        notes: dict[str, Any],
    ) -> None:
        plain = type(params) is dict or isinstance(params, Mapping)
        details: dict[str, Any] = {
            # Whole microseconds, in milliseconds: round(x, 3) would cost more than the rest.
            "duration_ms": int((time.perf_counter() - started) * 1_000_000) / 1000,
            "params": params if plain else repr(type(params)),
        }
        if result.agents_contacted:  # no copy here: redaction (in create) builds a new list
            details["agents_contacted"] = result.agents_contacted
        for key, value in notes.items():  # from context.annotate(); the runtime's entries win
            if key != "error":
                details.setdefault(key, value)
        self._emit(
            AuditEvent.create(
                "connector.execute",
                outcome=outcome,
                connector=name if isinstance(name, str) else repr(name),
                action=action,
                user_id=user_id,
                session_id=session_id,
                details=details,
                error="; ".join(result.errors) if result.errors else None,
            )
        )

    def _emit(self, event: AuditEvent) -> None:
        self._fanout.emit(event)

    def _refresh_sinks(self) -> None:
        self._fanout.refresh()

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._finished_background)

    def _finished_background(self, future: asyncio.Future[Any]) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("background task of the runtime failed", exc_info=future.exception())
