"""What the broadcast benchmarks share: the concurrency, the runtime and the raw side's session,
the raw aiohttp gather they are measured against, the two timed sides of a pair (the runtime's
broadcast, the raw gather), and the figure a pair makes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_host import Runtime, RuntimeConfig

from ._common import Figure, ratios
from .fleet import Fleet, runtime_settings

CONNECTOR = "agent_orchestration"
#: Requests in flight at once, on both sides: the connector's ``max_concurrency`` and the raw
#: gather's semaphore.
CONCURRENCY = 64

#: A raw broadcast: ``(agent_id, url)`` pairs in, each agent's answer (or ``{"error": ...}``) out.
RawBroadcast = Callable[[list[tuple[str, str]]], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def runtime_and_session(
    fleet: Fleet, **settings: str
) -> AsyncIterator[tuple[Runtime, aiohttp.ClientSession]]:
    """A runtime holding the agent connector (``max_concurrency`` :data:`CONCURRENCY`, and
    ``settings``), and the raw side's session; both trust the fleet's CA."""
    config = RuntimeConfig(
        connector_settings=runtime_settings(fleet, max_concurrency=str(CONCURRENCY), **settings)
    )
    connector = aiohttp.TCPConnector(ssl=fleet.ca.client_context(), limit=0)
    async with (
        Runtime(config, plugins=[AgentOrchestrationPlugin()], load_entrypoints=False) as runtime,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        yield runtime, session


def raw_jamey_broadcaster(
    session: aiohttp.ClientSession, api_key: str, timeout: float | None = None
) -> RawBroadcast:
    """The baseline: ``echo`` to every agent over the jamey protocol, :data:`CONCURRENCY` at a
    time, on ``session``, each request bounded by ``timeout`` (else by the session's)."""
    auth = f"Bearer {api_key}"
    body = json.dumps({"task": "echo", "params": {"x": "1"}}).encode()
    bound: dict[str, Any] = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout else {}

    async def broadcast(agents: list[tuple[str, str]]) -> dict[str, Any]:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(url: str) -> Any:
            async with limit:
                headers = {
                    "Authorization": auth,
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                }
                try:
                    async with session.post(
                        url + "/api/v1/tasks", data=body, headers=headers, **bound
                    ) as response:
                        if response.status != 200:
                            return {"error": f"status {response.status}"}
                        return json.loads(await response.read())
                except (aiohttp.ClientError, TimeoutError) as exc:
                    return {"error": type(exc).__name__}

        answers = await asyncio.gather(*(one(url) for _, url in agents))
        return dict(zip((agent_id for agent_id, _ in agents), answers, strict=True))

    return broadcast


async def timed_broadcast(
    runtime: Runtime, params: Mapping[str, str], expected: int, what: str = "broadcast"
) -> float:
    """Seconds the runtime's broadcast took; it must have reached ``expected`` agents."""
    start = time.perf_counter()
    result = await runtime.execute_connector(CONNECTOR, params)
    elapsed = time.perf_counter() - start
    if not result.success or result.metadata.get("succeeded") != str(expected):
        raise RuntimeError(f"{what} failed: {result.errors} {result.metadata}")
    return elapsed


async def timed_raw_broadcast(
    broadcast: RawBroadcast, agents: list[tuple[str, str]], what: str = "raw broadcast"
) -> float:
    """Seconds the raw gather took; every agent must have answered."""
    start = time.perf_counter()
    answers = await broadcast(agents)
    elapsed = time.perf_counter() - start
    failed = sum(1 for a in answers.values() if isinstance(a, dict) and "error" in a)
    if len(answers) != len(agents) or failed:
        raise RuntimeError(f"{what}: {failed} of {len(agents)} failed")
    return elapsed


def versus_raw_gather(
    *, key: str, title: str, samples: Mapping[str, list[float]], note: str = ""
) -> Figure:
    """A broadcast pair's figure: the runtime's median time, the raw gather's as the baseline,
    and the ratio pair by pair (to be judged by the caller)."""
    return Figure(
        key=key,
        title=title,
        value=statistics.median(samples["runtime"]),
        unit="s",
        baseline="raw gather",
        baseline_value=statistics.median(samples["raw"]),
        ratio=ratios(samples["raw"], samples["runtime"]),
        ratio_label="of raw",
        note=note,
    )
