"""Fixtures of the interop tests: SDK peers and one runtime per module, all in the module's loop.

An SDK peer starts in about 15 ms but takes 0.1 s to stop (uvicorn's tick), so each module shares
its peers, and therefore its event loop (``pytest.mark.asyncio(loop_scope="module")``). The
connector's runtime must live in that same loop, which ``jamey_runtime`` (a fixture of each
test's own loop) cannot give, so :func:`interop_runtime` starts one with :class:`Runtime` itself,
with the agent plugin and an audit recorder. Tests register agents under ids of their own.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from a2a_peer import A2APeer, PeerCA
from a2a_peer.fixtures import a2a_peer_ca

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.testing import RecordingAgent, ThrowawayCA, start_test_agent
from jamey_host import Runtime, RuntimeConfig
from jamey_host.testing import AuditEventList
from jamey_host.testing.plugin import JameyTestingAuditRecorder

from .helpers import CONNECTOR, Interop, hello

__all__ = ["a2a_peer_ca"]

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def jamey_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayCA]:
    """The CA of the module's reference (jamey protocol) agent."""
    with ThrowawayCA(tmp_path_factory.mktemp("interop-jamey-ca")) as ca:
        yield ca


@pytest.fixture(scope="module")
def trust(
    tmp_path_factory: pytest.TempPathFactory, a2a_peer_ca: PeerCA, jamey_ca: ThrowawayCA
) -> Path:
    """One ``ca_bundle`` trusting the SDK peers' CA and the reference agent's."""
    bundle = tmp_path_factory.mktemp("interop-trust") / "bundle.pem"
    bundle.write_bytes(a2a_peer_ca.ca_path.read_bytes() + jamey_ca.ca_path.read_bytes())
    return bundle


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def interop_runtime(trust: Path) -> AsyncIterator[tuple[Runtime, AuditEventList]]:
    events = AuditEventList()
    config = RuntimeConfig(
        connector_settings={
            CONNECTOR: {
                "ca_bundle": str(trust),
                "allow_networks": "127.0.0.0/8",
                "timeout": "5",
                "retries": "3",
            }
        }
    )
    plugins = [JameyTestingAuditRecorder(events), AgentOrchestrationPlugin()]
    async with Runtime(config, plugins=plugins, load_entrypoints=False) as runtime:
        yield runtime, events


@pytest_asyncio.fixture(loop_scope="module")
async def interop(interop_runtime: tuple[Runtime, AuditEventList]) -> AsyncIterator[Interop]:
    """This test's view of the module's runtime; the agents it registered go when it ends."""
    runtime, events = interop_runtime
    events.clear()
    view = Interop(runtime, events, next(_ids))
    yield view
    for agent_id in view.registered:
        await view.call("unregister_agent", agent_id=agent_id)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["JSONRPC", "HTTP+JSON"])
async def peer(request: pytest.FixtureRequest, a2a_peer_ca: PeerCA) -> AsyncIterator[A2APeer]:
    """An SDK peer whose card offers one binding: every test runs on both."""
    async with A2APeer(ca=a2a_peer_ca, bindings=(request.param,), slow_seconds=10) as started:
        yield started


@pytest.fixture
def fresh_peer(peer: A2APeer) -> A2APeer:
    peer.reset()
    return peer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def jamey_agent(jamey_ca: ThrowawayCA) -> AsyncIterator[RecordingAgent]:
    """A reference agent speaking the jamey protocol, for mixed broadcasts."""
    agent = await start_test_agent(jamey_ca, name="jamey-ref", handlers={"hello": hello})
    try:
        yield agent
    finally:
        await agent.close()
