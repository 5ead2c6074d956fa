"""3. Broadcast to many registered agents versus raw ``asyncio.gather`` of aiohttp posts.

1,000 agents are 1,000 registrations ``https://127.0.0.1:PORT/agent/N`` spread round-robin over
the fleet's server processes. For a size K below 1,000 the first K agents carry the capability
``upto<K>`` and the broadcast is ``{"action": "broadcast", "task": "echo", "capability":
"upto<K>"}`` (at 1,000: no capability, every agent).

* runtime: ``await runtime.execute_connector("agent_orchestration", params)``: registry scan,
  ``max_concurrency`` (64) concurrent deliveries, per-agent audit, the JSON output of all answers;
* raw: one shared ``aiohttp.ClientSession`` (same CA), ``asyncio.Semaphore(64)``, ``asyncio.gather``
  of one POST per agent (same headers, a fresh ``Idempotency-Key`` each, body encoded once),
  ``json.loads`` of each answer, collected into ``{agent_id: answer}``.

The hung-agent check: a second runtime (``timeout=2``, ``retries=1``) with 999 agents and one
whose handler sleeps 60 s; the broadcast must return within 3 s (one timeout plus a second).
"""

from __future__ import annotations

import time
from typing import Any

from jamey_host import Runtime

from ._broadcasting import (
    CONCURRENCY,
    raw_jamey_broadcaster,
    runtime_and_session,
    timed_broadcast,
    timed_raw_broadcast,
    versus_raw_gather,
)
from ._common import Figure, Settings, log, paired, ratios
from .fleet import Fleet

HUNG_TIMEOUT = 2.0


def _agent_urls(fleet: Fleet, count: int) -> list[tuple[str, str]]:
    ports = fleet.ports
    return [(f"a{i}", f"https://127.0.0.1:{ports[i % len(ports)]}/agent/{i}") for i in range(count)]


async def _register(
    runtime: Runtime, fleet: Fleet, agents: list[tuple[str, str]], sizes: tuple[int, ...]
) -> None:
    for i, (agent_id, url) in enumerate(agents):
        caps = ",".join(f"upto{k}" for k in sizes if i < k)
        result = await runtime.execute_connector(
            "agent_orchestration",
            {
                "action": "register_agent",
                "agent_id": agent_id,
                "name": agent_id,
                "url": url,
                "api_key": fleet.api_key,
                "capabilities": caps,
            },
        )
        assert result.success, result.errors


async def run(settings: Settings, fleet: Fleet) -> tuple[list[Figure], dict[str, Any]]:
    sizes = tuple(sorted(set(settings.broadcast_sizes) | {1000}))
    largest = max(sizes)
    agents = _agent_urls(fleet, largest)
    figures: list[Figure] = []
    raw: dict[str, Any] = {"servers": len(fleet.ports), "concurrency": CONCURRENCY, "sizes": {}}
    async with runtime_and_session(fleet) as (runtime, session):
        await _register(runtime, fleet, agents, sizes)
        raw_broadcast = raw_jamey_broadcaster(session, fleet.api_key)

        for size in sizes:
            params = {"action": "broadcast", "task": "echo", "param_x": "1"}
            if size < largest:
                params["capability"] = f"upto{size}"
            subset = agents[:size]

            async def runtime_side(params: dict[str, str] = params, size: int = size) -> float:
                return await timed_broadcast(runtime, params, size)

            async def raw_side(subset: list[tuple[str, str]] = subset) -> float:
                return await timed_raw_broadcast(raw_broadcast, subset)

            log(f"broadcast: {size} agents, {settings.reps} pairs")
            samples = await paired({"runtime": runtime_side, "raw": raw_side}, settings.reps)
            raw["sizes"][str(size)] = {"seconds": samples}
            if size == largest:
                figure = versus_raw_gather(
                    key="broadcast.1000",
                    title=f"broadcast to {size} agents ({len(fleet.ports)} servers)",
                    samples=samples,
                )
                figures.append(figure.judge(">=", 0.95))

    figures.append(await _hung(settings, fleet, agents, raw))
    return figures, raw


async def _hung(
    settings: Settings, fleet: Fleet, agents: list[tuple[str, str]], raw: dict[str, Any]
) -> Figure:
    """One hung agent among 1,000: the broadcast must end within one timeout plus a second."""
    hung_agents = [*agents[:-1], ("hung", f"https://127.0.0.1:{fleet.ports[0]}/hang/0")]
    timeouts = {"timeout": f"{HUNG_TIMEOUT:g}", "retries": "1"}
    async with runtime_and_session(fleet, **timeouts) as (runtime, session):
        await _register(runtime, fleet, hung_agents, ())
        raw_broadcast = raw_jamey_broadcaster(session, fleet.api_key, timeout=HUNG_TIMEOUT)
        params = {"action": "broadcast", "task": "echo"}
        outcomes: list[dict[str, str]] = []

        async def runtime_side() -> float:
            start = time.perf_counter()
            result = await runtime.execute_connector("agent_orchestration", params)
            elapsed = time.perf_counter() - start
            outcomes.append(dict(result.metadata))
            if not result.success or result.metadata.get("failed") != "1":
                raise RuntimeError(f"hung broadcast: {result.errors} {result.metadata}")
            return elapsed

        async def raw_side() -> float:
            start = time.perf_counter()
            answers = await raw_broadcast(hung_agents)
            elapsed = time.perf_counter() - start
            if "error" not in answers["hung"]:
                raise RuntimeError("the hung agent answered")
            return elapsed

        log(f"broadcast: 1000 agents with one hung, {settings.hung_reps} pairs")
        samples = await paired(
            {"runtime": runtime_side, "raw": raw_side}, settings.hung_reps, warmup=0
        )
    raw["hung"] = {"seconds": samples, "metadata": outcomes[-1], "timeout": HUNG_TIMEOUT}
    worst = max(samples["runtime"])
    figure = Figure(
        key="broadcast.hung",
        title="broadcast, 1000 agents, 1 hung (timeout 2 s)",
        value=worst,
        unit="s",
        baseline="raw gather, 2 s timeout",
        baseline_value=max(samples["raw"]),
        ratio=ratios(samples["raw"], samples["runtime"]),
        ratio_label="of raw",
        note="worst of the runs; goal on the worst",
    )
    return figure.judge("<=", HUNG_TIMEOUT + 1.0, on=worst, unit=" s")
