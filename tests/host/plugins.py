"""Small plugin objects for the host tests: ``from .plugins import ConnectorPlugin``.

Audit events are collected with the fixtures jamey_host ships (``jamey_runtime`` and
``jamey_audit_events``), or with its recorder when a test builds its own ``Runtime``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from jamey_host import (
    ApprovalRequest,
    AuditEvent,
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    hookimpl,
)

#: The example and broken plugin entry points: the only ones these tests load.
TEST_PLUGINS = frozenset(
    {
        "example_echo",
        "example_async",
        "broken_import",
        "broken_invalid_spec",
        "broken_unknown_hook",
        "shadow_echo",
    }
)


def spec(
    connector_id: str = "thing",
    *,
    capability: CapabilityLevel = CapabilityLevel.READ_ONLY,
    requires_approval: bool = False,
    actions: tuple[str, ...] = ("go",),
) -> ConnectorSpec:
    return ConnectorSpec(
        id=connector_id,
        name=connector_id.title(),
        version="1.0.0",
        description=f"test connector {connector_id}",
        capability_level=capability,
        requires_approval=requires_approval,
        actions=actions,
    )


Behaviour = Callable[[str, Mapping[str, str], ExecutionContext], Any]


class ConnectorPlugin:
    """Registers one connector; records each call; answers with ``behaviour`` (sync)."""

    def __init__(
        self,
        connector_id: str = "thing",
        behaviour: Behaviour | None = None,
        *,
        capability: CapabilityLevel = CapabilityLevel.READ_ONLY,
        requires_approval: bool = False,
    ) -> None:
        self.spec = spec(connector_id, capability=capability, requires_approval=requires_approval)
        self.behaviour = behaviour or (lambda name, params, ctx: ConnectorResult.ok("done"))
        self.calls: list[tuple[str, Mapping[str, str], ExecutionContext]] = []

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [self.spec]

    @hookimpl
    def execute_connector(
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> Any:
        self.calls.append((name, params, context))
        return self.behaviour(name, params, context)


class AsyncConnectorPlugin(ConnectorPlugin):
    """The same with an ``async`` execute_connector."""

    @hookimpl
    async def execute_connector(  # type: ignore[override]
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> Any:
        self.calls.append((name, params, context))
        answer = self.behaviour(name, params, context)
        if isinstance(answer, Awaitable):
            return await answer
        return answer


class RaisingSink:
    """An audit_event sink that always raises."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def audit_event(self, event: AuditEvent) -> None:
        self.calls += 1
        raise RuntimeError("sink is broken")


class Approver:
    """approve_execution answering a fixed value (sync), recording its requests."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.requests: list[ApprovalRequest] = []

    @hookimpl
    def approve_execution(self, request: ApprovalRequest) -> bool | None:
        self.requests.append(request)
        return self.answer


class AsyncApprover(Approver):
    """The same, answering from a coroutine."""

    @hookimpl
    async def approve_execution(self, request: ApprovalRequest) -> bool | None:  # type: ignore[override]
        self.requests.append(request)
        return self.answer


class RaisingApprover:
    """approve_execution that raises."""

    @hookimpl
    def approve_execution(self, request: ApprovalRequest) -> bool | None:
        raise RuntimeError("approver is broken")


def own_class(plugin_class: type, class_name: str, *args: Any, **kwargs: Any) -> Any:
    """An instance of a fresh subclass named ``class_name``: its default plugin name is unique."""
    return type(class_name, (plugin_class,), {})(*args, **kwargs)
