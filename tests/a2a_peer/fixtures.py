"""pytest fixtures for the A2A peer. A ``conftest.py`` brings them in with::

    from a2a_peer.fixtures import a2a_peer, a2a_peer_ca, a2a_peer_factory  # noqa: F401

``a2a_peer`` is a started default peer (both bindings, JSON-RPC first, Bearer key);
``a2a_peer_factory(**options)`` starts peers with other options (see :class:`A2APeer`). Every
peer is stopped when the test ends. A peer starts in about 15 ms and stops in about 0.1 s (uvicorn
waits 0.1 s on shutdown), so a module with many tests can share one peer: see
``tests/a2a_peer/test_peer_jsonrpc.py`` for a module-scoped peer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest
import pytest_asyncio

from .server import A2APeer
from .tls import PeerCA

__all__ = ["PeerFactory", "a2a_peer", "a2a_peer_ca", "a2a_peer_factory"]


class PeerFactory(Protocol):
    async def __call__(self, **options: Any) -> A2APeer: ...


@pytest.fixture(scope="session")
def a2a_peer_ca(tmp_path_factory: pytest.TempPathFactory) -> PeerCA:
    """One throwaway CA for every peer of the session: trust ``a2a_peer_ca.ca_path``."""
    return PeerCA(tmp_path_factory.mktemp("a2a-peer-ca"))


@pytest_asyncio.fixture
async def a2a_peer_factory(a2a_peer_ca: PeerCA) -> AsyncIterator[PeerFactory]:
    started: list[A2APeer] = []

    async def start(**options: Any) -> A2APeer:
        peer = A2APeer(ca=a2a_peer_ca, **options)
        await peer.start()
        started.append(peer)
        return peer

    try:
        yield start
    finally:
        for peer in reversed(started):
            await peer.stop()


@pytest_asyncio.fixture
async def a2a_peer(a2a_peer_factory: PeerFactory) -> A2APeer:
    return await a2a_peer_factory()
