"""pytest plugin (``pytest11`` entry point): real HTTPS agents for tests, and fake ones.

Only ``pytest`` is imported here; aiohttp, trustme, aioresponses and pytest-asyncio are imported
when a fixture is used, so installing the package never breaks anyone's test run. No fixture is
autouse.

``jamey_agent_server`` is an async factory::

    async def test_sum(jamey_agent_server):
        agent = await jamey_agent_server(handlers={"sum": fn}, name="a1")
        agent.url, agent.api_key, agent.ca_path, agent.requests
        agent.fail_next(503, times=2, headers={"Retry-After": "0"})

With ``protocol="a2a"`` the agent speaks A2A over the same handlers (an agent card and JSON-RPC;
register it with ``protocol=a2a``).

Every agent of one test shares one throwaway CA (``jamey_agent_ca``), so one ``ca_path`` trusts
them all; their certificates are valid for ``127.0.0.1``, ``localhost`` and ``::1``. An agent
given ``ssl_context`` presents that instead (``jamey_agent_ca.server_context("other.name")``,
``jamey_agent_ca.server_context(expired=True)``, or another CA's).

``jamey_fake_agents`` gives fake agents at made-up URLs, answered through aioresponses (the
``[testing]`` extra), for a host application's tests of what it does with an agent's answers::

    async def test_retried(jamey_fake_agents):
        billing = jamey_fake_agents.add("https://billing.example.com", protocol="a2a")
        billing.fails(503, times=2)
        billing.answers("summarise", json={"total": 42})
        runtime = await jamey_fake_agents.runtime()  # the connector, the fakes registered
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

import pytest

if TYPE_CHECKING:
    import ssl

    from jamey_agent_orchestration.model import AgentProtocol
    from jamey_agent_orchestration.testing.agents import RecordingAgent, ThrowawayCA
    from jamey_agent_orchestration.testing.fakes import FakeAgents
    from jamey_agent_orchestration.testing.server import Handler
    from jamey_host.testing import RuntimeFactory

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - the async fixture then needs another async plugin
    _async_fixture = pytest.fixture  # type: ignore[assignment]

__all__ = [
    "MISSING_AIORESPONSES_MESSAGE",
    "AgentServerFactory",
    "jamey_agent_ca",
    "jamey_agent_server",
    "jamey_fake_agents",
]

MISSING_AIORESPONSES_MESSAGE = (
    "jamey_fake_agents needs aioresponses, which is not installed: install it with "
    "`pip install 'jamey-agent-orchestration[testing]'`"
)


class AgentServerFactory(Protocol):
    """The type of the ``jamey_agent_server`` fixture."""

    async def __call__(
        self,
        *,
        handlers: Mapping[str, Handler] | None = None,
        name: str = "agent",
        api_key: str | None = None,
        delay: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
        protocol: AgentProtocol = "jamey",
    ) -> RecordingAgent: ...


@pytest.fixture
def jamey_agent_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayCA]:
    """The throwaway CA of this test: ``.ca_path``, ``.server_context()``, ``.client_context()``."""
    from jamey_agent_orchestration.testing.agents import ThrowawayCA

    with ThrowawayCA(tmp_path_factory.mktemp("jamey-agent-ca")) as ca:
        yield ca


@_async_fixture
async def jamey_agent_server(jamey_agent_ca: ThrowawayCA) -> AsyncIterator[AgentServerFactory]:
    """Start HTTPS agents on 127.0.0.1; each is closed after the test."""
    from jamey_agent_orchestration.testing.agents import start_test_agent

    agents: list[RecordingAgent] = []

    async def factory(
        *,
        handlers: Mapping[str, Handler] | None = None,
        name: str = "agent",
        api_key: str | None = None,
        delay: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
        protocol: AgentProtocol = "jamey",
    ) -> RecordingAgent:
        agent = await start_test_agent(
            jamey_agent_ca,
            handlers=handlers,
            name=name,
            api_key=api_key,
            delay=delay,
            ssl_context=ssl_context,
            protocol=protocol,
        )
        agents.append(agent)
        return agent

    try:
        yield factory
    finally:
        for agent in reversed(agents):
            await agent.close()


@_async_fixture
async def jamey_fake_agents(jamey_runtime: RuntimeFactory) -> AsyncIterator[FakeAgents]:
    """Fake agents at made-up HTTPS URLs, scripted by the test; nothing is dialled.

    ``fake = jamey_fake_agents.add(url, protocol=..., skills=...)``, then
    ``await jamey_fake_agents.runtime()`` for a runtime in which every fake is registered. The
    runtimes it made are closed after the test, and aiohttp is left as it was.
    """
    fake_agents = _fake_agents_class()
    if fake_agents is None:
        pytest.fail(MISSING_AIORESPONSES_MESSAGE, pytrace=False)
    fakes = fake_agents(jamey_runtime)
    fakes.start()
    try:
        yield fakes
    finally:
        await fakes.close()


def _fake_agents_class() -> type[FakeAgents] | None:
    """:class:`FakeAgents`, or ``None`` when aioresponses is not installed."""
    try:
        from jamey_agent_orchestration.testing.fakes import FakeAgents
    except ModuleNotFoundError as exc:
        if exc.name != "aioresponses":
            raise
        return None
    return FakeAgents
