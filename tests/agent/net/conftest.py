"""Fixtures of the network tests: the client under test, trusting the test CA through ca_bundle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from jamey_agent_orchestration.net.jamey import JameyClient
from jamey_agent_orchestration.net.request import RequestSender
from jamey_agent_orchestration.net.retry import RetryPolicy
from jamey_agent_orchestration.net.transport import Transport
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.testing import ThrowawayCA

from .clients import LOOPBACK, MakeClient, Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make_client(jamey_agent_ca: ThrowawayCA, sleeps: Sleeps) -> AsyncIterator[MakeClient]:
    """Started clients (loopback allowed, timeout 5 s, pauses recorded, not slept); closed after."""
    transports: list[Transport] = []

    async def make(*, backoff: float = 0.001, **overrides: Any) -> JameyClient:
        values: dict[str, Any] = {
            "ca_bundle": jamey_agent_ca.ca_path,
            "allow_networks": LOOPBACK,
            "timeout": 5.0,
        }
        values.update(overrides)
        settings = AgentSettings(**values)
        transport = Transport(settings)
        transports.append(transport)
        await transport.start()
        policy = RetryPolicy(
            attempts=settings.retries,
            timeout=settings.timeout,
            backoff_initial=backoff,
            sleep=sleeps,
        )
        sender = RequestSender(transport, policy)
        return JameyClient(sender, max_response_bytes=settings.max_response_bytes)

    yield make
    for transport in transports:
        await transport.close()
