"""Fixtures of the connector tests: a started Runtime holding the agent plugin, and audit events.

The plugin is passed as an object (``load_entrypoints=False``), so whatever other plugins are
installed in the environment never take part. Agents are real HTTPS servers on 127.0.0.1 from the
``jamey_agent_server`` fixture; the client trusts their throwaway CA only through ``ca_bundle``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.tls_fixtures import RecordingAgent, ThrowawayCA
from jamey_host import ConnectorResult, Runtime, RuntimeConfig, hookimpl
from jamey_host.audit import AuditEvent

CONNECTOR = "agent_orchestration"


class Sink:
    """An ``audit_event`` sink that keeps every event."""

    def __init__(self, events: list[AuditEvent]) -> None:
        self.events = events

    @hookimpl
    def audit_event(self, event: AuditEvent) -> None:
        self.events.append(event)


class Harness:
    """A started runtime with the agent plugin, plus helpers to call the connector."""

    def __init__(
        self, runtime: Runtime, plugin: AgentOrchestrationPlugin, events: list[AuditEvent]
    ) -> None:
        self.runtime = runtime
        self.plugin = plugin
        self.events = events
        self.results: list[ConnectorResult] = []

    async def call(self, action: str | None = None, **params: str) -> ConnectorResult:
        if action is not None:
            params = {"action": action, **params}
        result = await self.runtime.execute_connector(CONNECTOR, params, user_id="tester")
        self.results.append(result)
        return result

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

    async def listed(self) -> list[dict[str, Any]]:
        result = await self.call("list_agents")
        assert result.success, result.errors
        listed: list[dict[str, Any]] = json.loads(result.output)
        return listed

    def named(self, name: str) -> list[AuditEvent]:
        return [event for event in self.events if event.event == name]

    def last_execute(self) -> AuditEvent:
        """The newest ``connector.execute`` event: it describes a send_task's delivery."""
        return self.named("connector.execute")[-1]


class MakeHarness(Protocol):
    async def __call__(
        self, *, allow_networks: str = ..., plugins: tuple[object, ...] = ..., **settings: str
    ) -> Harness: ...


@pytest.fixture
def audit_events() -> list[AuditEvent]:
    return []


@pytest.fixture
async def make_harness(
    jamey_agent_ca: ThrowawayCA, audit_events: list[AuditEvent]
) -> AsyncIterator[MakeHarness]:
    """Start runtimes with the agent plugin; settings default to short timeouts for tests."""
    runtimes: list[Runtime] = []

    async def factory(
        *, allow_networks: str = "127.0.0.0/8", plugins: tuple[object, ...] = (), **settings: str
    ) -> Harness:
        merged = {
            "ca_bundle": str(jamey_agent_ca.ca_path),
            "allow_networks": allow_networks,
            "timeout": "2",
            **settings,
        }
        if not allow_networks:
            del merged["allow_networks"]
        plugin = AgentOrchestrationPlugin()
        runtime = Runtime(
            RuntimeConfig(connector_settings={CONNECTOR: merged}),
            plugins=[plugin, Sink(audit_events), *plugins],
            load_entrypoints=False,
        )
        await runtime.start()
        runtimes.append(runtime)
        infos = {info.name: info for info in runtime.plugins()}
        failed = [info for info in infos.values() if info.status != "active"]
        assert not failed, failed
        return Harness(runtime, plugin, audit_events)

    try:
        yield factory
    finally:
        for runtime in reversed(runtimes):
            await runtime.close()


@pytest.fixture
async def harness(make_harness: MakeHarness) -> Harness:
    """A runtime with 127.0.0.0/8 allowed, timeout 2 s and the default 3 attempts."""
    return await make_harness()


Waiter = Callable[[Callable[[], bool]], Awaitable[None]]


async def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def wait_for() -> Waiter:
    """Poll a predicate until it holds (the test fails after 5 seconds)."""
    return _wait_for
