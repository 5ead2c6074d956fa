"""What a runtime knows about one plugin, in one record, and about each connector it provides."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Final, final

from jamey_host.specs import ConnectorSpec, PluginInfo, PluginStatus


@final
class PluginRecord:
    """One plugin of a runtime, from the moment it is found until it is unregistered.

    Only :class:`~jamey_host.lifecycle.PluginLifecycle` changes a record. ``plugin`` is ``None``
    for a plugin that was blocked or failed to load (it never reached pluggy).
    """

    __slots__ = (
        "connectors",
        "error",
        "name",
        "plugin",
        "start_failure",
        "started",
        "starting",
        "status",
        "version",
    )

    def __init__(
        self,
        *,
        name: str,
        plugin: object | None,
        version: str | None,
        status: PluginStatus = "active",
        error: str | None = None,
    ) -> None:
        self.name: Final = name
        self.plugin: Final = plugin
        self.version: Final = version
        self.status: PluginStatus = status
        #: Why the plugin is blocked or failed, for ``PluginInfo.error``.
        self.error = error
        #: The connectors it registered; they stay here when its startup fails.
        self.connectors: tuple[ConnectorRecord, ...] = ()
        #: Its ``runtime_startup`` completed, so it is owed a ``runtime_shutdown``.
        self.started = False
        #: The task running its startup, for a plugin registered into a running runtime.
        self.starting: asyncio.Future[bool] | None = None
        #: The message of the exception its ``runtime_startup`` raised (redacted).
        self.start_failure: str | None = None

    def info(self) -> PluginInfo:
        """The public view, as :meth:`Runtime.plugins <jamey_host.Runtime.plugins>` lists it."""
        callable_ids = tuple(c.spec.id for c in self.connectors) if self.status == "active" else ()
        return PluginInfo(
            name=self.name,
            version=self.version,
            status=self.status,
            error=self.error,
            connectors=callable_ids,
        )


@final
class ConnectorRecord:
    """One connector of an active plugin: what a call of it needs to reach the plugin."""

    __slots__ = ("execute", "plugin", "settings", "spec")

    def __init__(
        self,
        *,
        spec: ConnectorSpec,
        plugin: PluginRecord,
        execute: Callable[..., Any],
        settings: Mapping[str, str],
    ) -> None:
        self.spec: Final = spec
        #: The record of the plugin that registered it.
        self.plugin: Final = plugin
        #: The plugin's ``execute_connector``, taking ``(name, params, context)``.
        self.execute: Final = execute
        #: This connector's settings (the configuration is frozen, so they are read once).
        self.settings: Final = settings
