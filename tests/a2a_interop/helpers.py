"""Small helpers of the interop tests."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from a2a_peer import A2APeer

    from jamey_agent_orchestration.testing import TaskRequest
    from jamey_host import AuditEvent, ConnectorResult, Runtime
    from jamey_host.testing import AuditEventList

CONNECTOR: Final = "agent_orchestration"


def hello(request: TaskRequest) -> dict[str, Any]:
    return {"hello": dict(request.params)}


class Interop:
    """The module's runtime, this test's audit events, and agent ids unique to this test."""

    def __init__(self, runtime: Runtime, events: AuditEventList, number: int) -> None:
        self.runtime = runtime
        self.events = events
        self.number = number
        self.registered: list[str] = []

    def id(self, name: str) -> str:
        return f"{name}-{self.number}"

    async def call(self, action: str, **params: str) -> ConnectorResult:
        result = await self.runtime.execute_connector(
            CONNECTOR, {"action": action, **params}, user_id="interop"
        )
        if action == "register_agent" and result.success:
            self.registered.append(params["agent_id"])
        return result

    async def register(self, label: str, peer: A2APeer, **params: str) -> str:
        """Register ``peer`` (A2A, its own key unless given) as ``label-N``; return the id."""
        agent_id = self.id(label)
        params = {"api_key": peer.api_key, **params}
        result = await self.call(
            "register_agent", agent_id=agent_id, url=peer.base_url, protocol="a2a", **params
        )
        assert result.success, result.errors
        return agent_id

    def named(self, name: str) -> list[AuditEvent]:
        return self.events.named(name)


def output(result: ConnectorResult) -> Any:
    return json.loads(result.output)


def ok(result: ConnectorResult) -> ConnectorResult:
    assert result.success, result.errors
    return result
