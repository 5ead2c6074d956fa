"""The runtime: the one object a host application holds, a front over its plugins and calls.

Its plugins are loaded, started and stopped by :class:`~jamey_host.lifecycle.PluginLifecycle`;
each call goes through :class:`~jamey_host.dispatch.Dispatcher`; audit events reach the sinks
through :class:`~jamey_host.fanout.AuditFanout`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Literal, final

from jamey_host.audit import AuditEvent, Outcome
from jamey_host.config import RuntimeConfig
from jamey_host.dispatch import Dispatcher
from jamey_host.fanout import AuditFanout
from jamey_host.hooks import PluginHooks
from jamey_host.lifecycle import PluginLifecycle
from jamey_host.results import ConnectorResult
from jamey_host.specs import ConnectorSpec, PluginInfo


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
        hooks = PluginHooks()
        self._fanout = AuditFanout(hooks)
        self._plugins = PluginLifecycle(self, hooks, self._fanout)
        self._calls = Dispatcher(
            plugins=self._plugins,
            hooks=hooks,
            fanout=self._fanout,
            granted=self.config.granted_capabilities,
        )
        self._state: Literal["new", "running", "closed"] = "new"

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
        if self._state != "new":
            raise RuntimeError("a Runtime can be started only once")
        self._state = "running"
        try:
            self._plugins.load(entry_points=self._load_entrypoints, objects=self._initial_plugins)
            self._calls.open()
            await self._plugins.start_all()
        except BaseException:
            await self.close()
            raise

    async def close(self, *, grace: float = 10.0) -> None:
        """Shut down: refuse new calls, let calls under way finish, then stop the plugins.

        Calls still running after ``grace`` seconds go on without their plugins' resources (and
        fail accordingly); then every started plugin's ``runtime_shutdown`` runs, newest first;
        then async audit sinks still writing get ``grace`` seconds more before they are
        cancelled (and logged by name). Closing twice is a no-op.
        """
        if self._state == "closed":
            return
        self._state = "closed"
        await self._calls.drain(grace)
        await self._plugins.stop_all()
        await self._fanout.close(grace)

    # -- plugins ---------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin the runtime knows, active, blocked or failed, in loading order."""
        return self._plugins.infos()

    def connectors(self) -> list[ConnectorSpec]:
        """The specs of the connectors that can be called."""
        return self._plugins.specs()

    def settings_for(self, connector_id: str) -> Mapping[str, str]:
        """The settings of one connector from the configuration, read-only."""
        return self.config.settings_for(connector_id)

    def register_plugin(self, plugin: object, name: str | None = None) -> str:
        """Add a plugin object (or class, instantiated here) and return its name.

        Raises ``PluginError`` if it cannot be used. In a running runtime its
        ``runtime_startup`` runs at once, as a task that calls of its connectors wait for.
        """
        return self._plugins.register(plugin, name)

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and its connectors, running its ``runtime_shutdown`` if it started."""
        self._plugins.unregister(name)

    # -- calls and audit -------------------------------------------------------------------

    async def execute_connector(
        self,
        name: str,
        params: Mapping[str, str],
        *,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> ConnectorResult:
        """Call connector ``name``; every failure comes back as a failed result, never raised.

        The call's audit events go to the sinks present when it starts. The path of a call, step
        by step, is in :mod:`jamey_host.dispatch`.
        """
        return await self._calls.execute(name, params, user_id=user_id, session_id=session_id)

    def audit(
        self, event: str, *, outcome: Outcome, connector: str | None = None, **details: Any
    ) -> None:
        """Emit an audit event outside any call, e.g. from ``runtime_startup``."""
        if self._fanout.wanted():
            self._fanout.emit(
                AuditEvent.create(event, outcome=outcome, connector=connector, details=details)
            )
