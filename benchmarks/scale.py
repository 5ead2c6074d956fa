"""5. Broadcast to 10,000 agents (``jamey`` protocol), and the memory each registered agent takes.

Runs in a fresh process (``python -m benchmarks.scale AGENTS REPS CA PORT...``, the agents' key in
``$BENCH_AGENT_API_KEY``, JSON on stdout), so that memory the other benchmarks freed cannot hide
what the registry and its use take. The agents are the fleet's processes: agent ``N`` is
``https://127.0.0.1:PORT/agent/N``, spread round-robin over them.

* broadcast: ``execute_connector("agent_orchestration", {"action": "broadcast", "task": "echo",
  "param_x": "1"})`` to all of them, ``max_concurrency`` 64, against raw aiohttp: one shared
  ``aiohttp.ClientSession`` (same CA), ``asyncio.Semaphore(64)``, ``asyncio.gather`` of one POST per
  agent (a fresh ``Idempotency-Key`` each), each answer parsed and collected into
  ``{agent_id: answer}``; ``REPS`` pairs, alternating which side goes first;
* memory per registered agent: the resident set size of the process after registering the agents
  through ``execute_connector``, minus that of the started runtime; and ``tracemalloc``'s traced
  bytes in a second runtime of its own, after registering and after one broadcast (what an agent
  costs once it has been sent a task: its circuit breaker's entry, what ``yarl`` caches of its
  URL). Each runtime is warmed first by two broadcasts to 1,000 other agents, then unregistered, so
  that its connection pool is full: the pool is bounded by ``max_concurrency``, not by the number
  of agents, and each TLS connection holds asyncio's 256 KiB read buffer, which would otherwise be
  counted against the agents. A garbage collection precedes each reading.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import ssl
import sys
import time
import tracemalloc
from typing import Any

import aiohttp

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_host import Runtime, RuntimeConfig

from ._broadcasting import (
    CONCURRENCY,
    CONNECTOR,
    raw_jamey_broadcaster,
    timed_broadcast,
    timed_raw_broadcast,
    versus_raw_gather,
)
from ._common import Figure, Settings, log, paired, rss_bytes, run_worker
from .agent_server import API_KEY_ENV
from .fleet import Fleet

WARM_AGENTS = 1_000
BROADCAST = {"action": "broadcast", "task": "echo", "param_x": "1"}


def _config(ca_path: str) -> RuntimeConfig:
    settings = {
        "ca_bundle": ca_path,
        "allow_networks": "127.0.0.0/8",
        "max_concurrency": str(CONCURRENCY),
    }
    return RuntimeConfig(connector_settings={CONNECTOR: settings})


def _agents(ports: list[int], count: int, prefix: str = "a") -> list[tuple[str, str]]:
    return [
        (f"{prefix}{i}", f"https://127.0.0.1:{ports[i % len(ports)]}/agent/{i}")
        for i in range(count)
    ]


async def _register(runtime: Runtime, agents: list[tuple[str, str]], api_key: str) -> None:
    execute = runtime.execute_connector
    for agent_id, url in agents:
        params = {
            "action": "register_agent",
            "agent_id": agent_id,
            "name": agent_id,
            "url": url,
            "api_key": api_key,
        }
        result = await execute(CONNECTOR, params)
        if not result.success:
            raise RuntimeError(f"registration failed: {result.errors}")


async def _warm(runtime: Runtime, ports: list[int], api_key: str) -> None:
    """Fill the runtime's pool and run every path once, then leave the registry empty."""
    warm = _agents(ports, WARM_AGENTS, prefix="warm")
    await _register(runtime, warm, api_key)
    for _ in range(2):
        await timed_broadcast(runtime, BROADCAST, WARM_AGENTS)
    for agent_id, _ in warm:
        result = await runtime.execute_connector(
            CONNECTOR, {"action": "unregister_agent", "agent_id": agent_id}
        )
        assert result.success, result.errors


def _per_agent(before: int | None, after: int | None, count: int) -> float | None:
    return None if before is None or after is None else (after - before) / count


async def measure(count: int, reps: int, ca_path: str, ports: list[int]) -> dict[str, Any]:
    api_key = os.environ[API_KEY_ENV]
    agents = _agents(ports, count)
    out: dict[str, Any] = {"agents": count, "servers": len(ports), "concurrency": CONCURRENCY}
    context = ssl.create_default_context(cafile=ca_path)
    connector = aiohttp.TCPConnector(ssl=context, limit=0)

    async with (
        Runtime(
            _config(ca_path), plugins=[AgentOrchestrationPlugin()], load_entrypoints=False
        ) as rt,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        raw_broadcast = raw_jamey_broadcaster(session, api_key)

        async def runtime_side() -> float:
            return await timed_broadcast(rt, BROADCAST, count)

        async def raw_side() -> float:
            return await timed_raw_broadcast(raw_broadcast, agents)

        await _warm(rt, ports, api_key)
        gc.collect()
        empty = rss_bytes()
        began = time.perf_counter()
        await _register(rt, agents, api_key)
        out["register_seconds"] = time.perf_counter() - began
        gc.collect()
        registered = rss_bytes()
        samples = await paired({"runtime": runtime_side, "raw": raw_side}, reps)
    out["seconds"] = samples
    out["rss_per_agent_registered"] = _per_agent(empty, registered, count)
    gc.collect()

    async with Runtime(
        _config(ca_path), plugins=[AgentOrchestrationPlugin()], load_entrypoints=False
    ) as rt:
        await _warm(rt, ports, api_key)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        await _register(rt, agents, api_key)
        gc.collect()
        out["traced_per_agent_registered"] = (tracemalloc.get_traced_memory()[0] - base) / count
        await timed_broadcast(rt, BROADCAST, count)
        gc.collect()
        out["traced_per_agent_after_broadcast"] = (
            tracemalloc.get_traced_memory()[0] - base
        ) / count
        tracemalloc.stop()
    return out


def run(settings: Settings, fleet: Fleet) -> tuple[list[Figure], dict[str, Any]]:
    count = settings.scale_agents
    log(
        f"broadcast to {count:,} agents and memory per agent, {settings.scale_reps} pairs "
        "(a fresh process)"
    )
    raw = run_worker(
        "benchmarks.scale",
        count,
        settings.scale_reps,
        fleet.ca.ca_path,
        *fleet.ports,
        env={**os.environ, API_KEY_ENV: fleet.api_key},
        timeout=900,
    )
    samples = raw["seconds"]
    broadcast = versus_raw_gather(
        key=f"scale.broadcast.{count}",
        title=f"broadcast to {count:,} agents ({raw['servers']} servers)",
        samples=samples,
        note=f"registering them took {raw['register_seconds']:.1f} s",
    ).judge(">=", 0.90)
    rss = raw["rss_per_agent_registered"]
    traced = raw["traced_per_agent_after_broadcast"]
    memory = Figure(
        key="scale.memory_per_agent",
        title=f"memory per agent ({count:,}, traced, after a broadcast)",
        value=traced,
        unit="B",
        baseline="RSS per agent, registered",
        baseline_value=rss,
        note=f"traced: {raw['traced_per_agent_registered']:.0f} B registered, {traced:.0f} B "
        "after a broadcast; goal on the larger of the traced and the resident figure",
    )
    memory.judge("<=", 1024, on=max(traced, rss if rss is not None else traced), unit=" B")
    return [broadcast, memory], raw


if __name__ == "__main__":
    agents, reps = int(sys.argv[1]), int(sys.argv[2])
    ca, ports = sys.argv[3], [int(port) for port in sys.argv[4:]]
    print(json.dumps(asyncio.run(measure(agents, reps, ca, ports))))
