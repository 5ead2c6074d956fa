"""Fixtures of the connector tests, built on what the project ships to connector and host authors.

``jamey_runtime`` and ``jamey_audit_events`` (the jamey-host pytest plugin) start the runtimes and
record their audit events; ``jamey_agent_ca`` and ``jamey_agent_server`` (this connector's pytest
plugin) give real HTTPS agents on 127.0.0.1, which the client trusts only through ``ca_bundle``.
The plugin is passed as an object (entry points are not loaded), so whatever else is installed in
the environment never takes part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.testing import ThrowawayCA
from jamey_host.testing import AuditEventList, RuntimeFactory

from .connector import CONNECTOR, Connector, MakeConnector, Waiter


@pytest.fixture
def make_connector(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList, jamey_agent_ca: ThrowawayCA
) -> MakeConnector:
    """Start runtimes with the agent plugin; settings default to short timeouts for tests."""

    async def factory(
        *, allow_networks: str = "127.0.0.0/8", plugins: tuple[object, ...] = (), **settings: str
    ) -> Connector:
        merged = {
            "ca_bundle": str(jamey_agent_ca.ca_path),
            "allow_networks": allow_networks,
            "timeout": "2",
            **settings,
        }
        plugin = AgentOrchestrationPlugin()
        runtime = await jamey_runtime(plugin, *plugins, settings={CONNECTOR: merged})
        failed = [info for info in runtime.plugins() if info.status != "active"]
        assert not failed, failed
        return Connector(runtime, plugin, jamey_audit_events)

    return factory


@pytest.fixture
async def connector(make_connector: MakeConnector) -> Connector:
    """A runtime with 127.0.0.0/8 allowed, timeout 2 s and the default 3 attempts."""
    return await make_connector()


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
