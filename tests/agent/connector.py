"""The agent connector in a started runtime, with short helpers to call it (the ``connector``
fixture of ``conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
    from jamey_agent_orchestration.testing import RecordingAgent
    from jamey_host import AuditEvent, ConnectorResult, Runtime
    from jamey_host.testing import AuditEventList

CONNECTOR: Final = "agent_orchestration"

#: The ``wait_for`` fixture: ``await wait_for(predicate)`` polls until it holds (5 s at most).
Waiter = Callable[[Callable[[], bool]], Awaitable[None]]


class Connector:
    """A started runtime holding the agent plugin, and the audit events of the test."""

    def __init__(
        self, runtime: Runtime, plugin: AgentOrchestrationPlugin, events: AuditEventList
    ) -> None:
        self.runtime = runtime
        self.plugin = plugin
        self.events = events

    async def call(self, action: str | None = None, **params: str) -> ConnectorResult:
        if action is not None:
            params = {"action": action, **params}
        return await self.runtime.execute_connector(CONNECTOR, params, user_id="tester")

    async def register(
        self,
        agent_id: str,
        agent: RecordingAgent | str,
        *,
        api_key: str | None = None,
        capabilities: str = "",
        **extra: str,
    ) -> ConnectorResult:
        url = agent if isinstance(agent, str) else agent.url
        if api_key is None:
            assert not isinstance(agent, str)
            api_key = agent.api_key
        params = {"agent_id": agent_id, "name": f"Agent {agent_id}", "url": url, "api_key": api_key}
        if capabilities:
            params["capabilities"] = capabilities
        return await self.call("register_agent", **params, **extra)

    async def register_a2a(
        self,
        agent_id: str,
        agent: RecordingAgent | str,
        *,
        api_key: str | None = None,
        **extra: str,
    ) -> ConnectorResult:
        """Register an A2A agent from its card (its name and capabilities, unless given)."""
        url = agent if isinstance(agent, str) else agent.url
        if api_key is None:
            assert not isinstance(agent, str)
            api_key = agent.api_key
        return await self.call(
            "register_agent", agent_id=agent_id, url=url, api_key=api_key, protocol="a2a", **extra
        )

    async def listed(self) -> list[dict[str, Any]]:
        result = await self.call("list_agents")
        assert result.success, result.errors
        listed: list[dict[str, Any]] = json.loads(result.output)
        return listed

    def named(self, name: str) -> list[AuditEvent]:
        return self.events.named(name)

    def last_execute(self) -> AuditEvent:
        """The newest ``connector.execute`` event: it describes a send_task's delivery."""
        return self.named("connector.execute")[-1]


class MakeConnector(Protocol):
    """The ``make_connector`` fixture: ``await make_connector(timeout="0.5", ...)``."""

    async def __call__(
        self, *, allow_networks: str = ..., plugins: tuple[object, ...] = ..., **settings: str
    ) -> Connector: ...
