"""The client under test: a started :class:`JameyClient` over its own :class:`Transport`."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Final

import yarl

from jamey_agent_orchestration.model import Agent, ApiKey
from jamey_agent_orchestration.net.client import Delivery
from jamey_agent_orchestration.net.jamey import JameyClient

LOOPBACK: Final = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
KEY: Final = ApiKey("test-key-abc")
SEND_FAILED: Final = "Failed to send task to agent: "

#: The ``make_client`` fixture: ``await make_client(retries=2, timeout=0.3, ...)``, settings as
#: keywords (``backoff`` is the first pause of the retries).
MakeClient = Callable[..., Awaitable[JameyClient]]


class Sleeps:
    """An injectable ``sleep`` that records the pauses asked for and does not wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


async def send(
    client: JameyClient,
    url: yarl.URL | str,
    *,
    key: ApiKey = KEY,
    idempotency_key: str = "idem-1",
    task: str = "summarise",
    params: dict[str, str] | None = None,
) -> Delivery:
    """Deliver ``task`` to an agent at ``url`` (any URL: the address policy is not applied)."""
    agent = Agent(id="a1", name="Agent 1", url=url, api_key=key)
    return await client.send_task(
        agent,
        task,
        {"lang": "en", "n": "3"} if params is None else params,
        idempotency_key=idempotency_key,
    )
