"""The hooks a jamey-host plugin may implement.

A plugin implements any of them with :data:`jamey_host.hookimpl`, taking any subset of the
arguments, as pluggy allows. Every hook may be implemented by a plain or an ``async`` function
where its description says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING

from jamey_host.markers import hookspec

if TYPE_CHECKING:
    from jamey_host.audit import AuditEvent
    from jamey_host.context import ExecutionContext
    from jamey_host.gating import ApprovalRequest
    from jamey_host.results import ConnectorResult
    from jamey_host.runtime import Runtime
    from jamey_host.specs import ConnectorSpec


class JameyHostSpec:
    """Hook specifications of the ``jamey_host`` project."""

    @hookspec
    def register_connectors(self) -> Iterable[ConnectorSpec]:
        """Return the connectors this plugin provides.

        Called once, when the plugin is loaded. An invalid spec, or an id that another plugin
        already owns, makes the whole plugin fail to load (status ``failed``).

        Example::

            @hookimpl
            def register_connectors(self):
                return [ConnectorSpec(id="echo", name="Echo", version="1.0.0",
                                      description="Echoes params",
                                      capability_level=CapabilityLevel.READ_ONLY,
                                      actions=("echo",))]
        """
        raise NotImplementedError

    @hookspec
    def execute_connector(
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult | Awaitable[ConnectorResult] | None:
        """Run one call of the connector ``name``, which this plugin registered.

        The runtime calls only the plugin that owns ``name``, after validating ``params`` and
        applying capability gating and approval. Return a :class:`ConnectorResult` (or await to
        one). An exception becomes a failed result; prefer returning
        ``ConnectorResult.fail(...)`` with a clear message.

        Example::

            @hookimpl
            async def execute_connector(self, name, params, context):
                if context.action != "echo":
                    return ConnectorResult.fail(f"Unknown action: {context.action}")
                context.audit("echo.called", outcome="success", size=len(params))
                return ConnectorResult.ok(json.dumps(dict(params)))
        """
        raise NotImplementedError

    @hookspec
    def audit_event(self, event: AuditEvent) -> None:
        """Receive one audit event, already redacted.

        Every implementation receives every event; an exception in one is logged to the
        ``jamey_host`` logger and never reaches the call or another sink. Keep it quick: it runs
        on the event loop. An ``async`` implementation is scheduled as a task and awaited at
        shutdown at the latest, for ``close()``'s grace period; one still running then is
        cancelled (and logged by plugin name).

        Example::

            @hookimpl
            def audit_event(self, event):
                if event.outcome == "denied":
                    alerts.append(event.to_dict())
        """

    @hookspec
    def approve_execution(self, request: ApprovalRequest) -> bool | Awaitable[bool] | None:
        """Approve (True) or refuse (False) a call of a connector whose spec ``requires_approval``.

        Implementations are asked in turn, each answer awaited if needed; the first answer that
        is not ``None`` decides. No answer at all refuses the call. ``request.params`` are redacted.

        Example::

            @hookimpl
            async def approve_execution(self, request):
                if request.connector != "shell":
                    return None  # no opinion
                return await ask_operator(f"{request.user_id} wants {request.action}")
        """

    @hookspec
    def runtime_startup(self, runtime: Runtime) -> Awaitable[None] | None:
        """Open the plugin's resources (sessions, files) when a runtime starts; may be async.

        A plugin whose startup raises is marked ``failed``, its connectors removed, and its
        ``runtime_shutdown`` is **not** called: close what it opened before raising. With
        ``strict_plugins`` the runtime does not start.

        Example::

            @hookimpl
            async def runtime_startup(self, runtime):
                self.session = aiohttp.ClientSession()
                runtime.audit("echo.started", outcome="info")
        """

    @hookspec
    def runtime_shutdown(self, runtime: Runtime) -> Awaitable[None] | None:
        """Close what :meth:`runtime_startup` opened; may be async.

        Called once for every plugin whose startup completed, in reverse order, even when
        another plugin's shutdown fails.

        Example::

            @hookimpl
            async def runtime_shutdown(self, runtime):
                await self.session.close()
        """
