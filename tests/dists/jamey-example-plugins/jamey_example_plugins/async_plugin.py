"""A class plugin with async hooks and per-runtime state: a counter and a guarded admin tool."""

from __future__ import annotations

from collections.abc import Mapping

from jamey_host import (
    ApprovalRequest,
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    Runtime,
    hookimpl,
)


class AsyncPlugin:
    """Counts its calls; ``counter`` state lives on the instance, so each runtime has its own."""

    def __init__(self) -> None:
        self.calls = 0
        self.events: list[str] = []

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [
            ConnectorSpec(
                id="counter",
                name="Counter",
                version="2.0.0",
                description="Counts calls in this runtime",
                capability_level=CapabilityLevel.READ_WRITE,
                actions=("increment",),
            ),
            ConnectorSpec(
                id="admin_tool",
                name="Admin tool",
                version="2.0.0",
                description="Needs system_admin and approval",
                capability_level=CapabilityLevel.SYSTEM_ADMIN,
                requires_approval=True,
                actions=("reboot",),
            ),
        ]

    @hookimpl
    async def execute_connector(
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        self.calls += 1
        if name == "counter":
            return ConnectorResult.ok(str(self.calls), metadata={"count": str(self.calls)})
        return ConnectorResult.ok("rebooted")

    @hookimpl
    async def approve_execution(self, request: ApprovalRequest) -> bool | None:
        if request.connector != "admin_tool":
            return None
        return request.user_id == "root"

    @hookimpl
    async def runtime_startup(self, runtime: Runtime) -> None:
        self.events.append("startup")
        runtime.audit("example_async.started", outcome="info")

    @hookimpl
    async def runtime_shutdown(self, runtime: Runtime) -> None:
        self.events.append("shutdown")
