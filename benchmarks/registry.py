"""4. Registry scale: 100,000 agents in the in-memory registry.

Runs in a fresh process (``python -m benchmarks.registry N CHUNK REPS``, JSON on stdout) so that
memory freed by the other benchmarks cannot hide what the registry takes. Measured:

* memory per agent: resident set size (``/proc/self/status`` VmRSS) and ``tracemalloc``'s traced
  bytes, after registering N agents through ``execute_connector`` minus the same figure of the
  started, warmed-up, empty runtime (a garbage collection before each reading); tracemalloc runs
  in a second runtime of its own, so it slows nothing else;
* registrations per second through ``execute_connector`` (params parsing, URL policy, the
  ``ApiKey``, the store insert, the runtime's gating and audit) for all N agents, and in
  ``REPS`` pairs of CHUNK agents each against the plugin's store used directly
  (``await plugin.store.insert(Agent(...))`` with an already parsed and validated URL: no
  parsing, no policy, no runtime), each side into a fresh runtime;
* ``list_agents`` of the N agents through ``execute_connector`` (the JSON of every public field).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
import tracemalloc
from typing import Any

import yarl

from jamey_agent_orchestration.model import Agent, ApiKey
from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_host import Runtime, RuntimeConfig

from ._common import Figure, Settings, log, ratios, rss_bytes, run_worker

_CONFIG = RuntimeConfig(
    connector_settings={"agent_orchestration": {"allow_networks": "127.0.0.0/8"}}
)
_KEY = "k" * 43  # the length of secrets.token_urlsafe(32)


def _url(i: int) -> str:
    return f"https://127.0.0.1:{8443 + i % 4}/agent/{i}"


async def _register(runtime: Runtime, start: int, stop: int) -> float:
    execute = runtime.execute_connector
    began = time.perf_counter()
    for i in range(start, stop):
        result = await execute(
            "agent_orchestration",
            {
                "action": "register_agent",
                "agent_id": f"agent-{i}",
                "name": f"Agent {i}",
                "url": _url(i),
                "api_key": _KEY,
                "capabilities": "echo",
            },
        )
        if not result.success:
            raise RuntimeError(result.errors)
    return time.perf_counter() - began


async def _insert(plugin: AgentOrchestrationPlugin, start: int, stop: int) -> float:
    store = plugin.store
    # Parsed before the clock starts: this side stands for an already validated URL.
    urls = [yarl.URL(_url(i)) for i in range(start, stop)]
    began = time.perf_counter()
    for i, url in zip(range(start, stop), urls, strict=True):
        agent = Agent(
            id=f"agent-{i}",
            name=f"Agent {i}",
            url=url,
            api_key=ApiKey(_KEY),
            capabilities=("echo",),
        )
        if not await store.insert(agent):
            raise RuntimeError("duplicate")
    return time.perf_counter() - began


async def _warm(runtime: Runtime) -> None:
    """Exercise the registration path once so caches and code are in place, then empty it."""
    await _register(runtime, 10_000_000, 10_000_100)
    for i in range(10_000_000, 10_000_100):
        await runtime.execute_connector(
            "agent_orchestration", {"action": "unregister_agent", "agent_id": f"agent-{i}"}
        )


async def measure(agents: int, chunk: int, reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {"agents": agents}
    # 1. RSS and the rate through execute_connector, then list_agents.
    async with Runtime(_CONFIG, plugins=[AgentOrchestrationPlugin()], load_entrypoints=False) as rt:
        await _warm(rt)
        gc.collect()
        before = rss_bytes()
        elapsed = await _register(rt, 0, agents)
        gc.collect()
        after = rss_bytes()
        out["runtime_rate"] = agents / elapsed
        out["rss_empty"] = before
        out["rss_full"] = after
        missing = before is None or after is None
        out["rss_per_agent"] = None if missing else (after - before) / agents  # type: ignore[operator]
        listing = []
        for _ in range(reps):
            began = time.perf_counter()
            result = await rt.execute_connector("agent_orchestration", {"action": "list_agents"})
            listing.append(time.perf_counter() - began)
            assert result.success
        assert len(json.loads(result.output)) == agents
        out["list_agents_seconds"] = listing
        out["list_agents_output_bytes"] = len(result.output)
    gc.collect()
    # 2. tracemalloc, in a runtime of its own.
    async with Runtime(_CONFIG, plugins=[AgentOrchestrationPlugin()], load_entrypoints=False) as rt:
        await _warm(rt)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        await _register(rt, 0, agents)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        out["traced_per_agent"] = traced / agents
    gc.collect()
    # 3. Paired rates: through the runtime versus the store used directly.
    runtime_times: list[float] = []
    store_times: list[float] = []
    for rep in range(reps + 1):  # the first pair is the warm-up
        pair: dict[str, float] = {}
        for side in ("runtime", "store") if rep % 2 == 0 else ("store", "runtime"):
            plugin = AgentOrchestrationPlugin()
            async with Runtime(_CONFIG, plugins=[plugin], load_entrypoints=False) as rt:
                gc.collect()
                if side == "runtime":
                    pair[side] = await _register(rt, 0, chunk)
                else:
                    pair[side] = await _insert(plugin, 0, chunk)
        if rep:
            runtime_times.append(pair["runtime"])
            store_times.append(pair["store"])
    out["chunk"] = chunk
    out["runtime_chunk_seconds"] = runtime_times
    out["store_chunk_seconds"] = store_times
    return out


def run(settings: Settings) -> tuple[list[Figure], dict[str, Any]]:
    log(f"registry: {settings.registry_agents} agents in a fresh process")
    raw = run_worker(
        "benchmarks.registry",
        settings.registry_agents,
        settings.registry_chunk,
        settings.reps,
        timeout=600,
    )
    n = raw["agents"]
    chunk = raw["chunk"]
    runtime_rates = [chunk / t for t in raw["runtime_chunk_seconds"]]
    store_rates = [chunk / t for t in raw["store_chunk_seconds"]]
    figures = [
        Figure(
            key="registry.rate",
            title=f"register_agent rate ({chunk:,} per sample)",
            value=statistics.median(runtime_rates),
            unit="/s",
            baseline="store.insert direct",
            baseline_value=statistics.median(store_rates),
            ratio=ratios(raw["store_chunk_seconds"], raw["runtime_chunk_seconds"]),
            ratio_label="of direct",
            note=f"all {n:,} through execute_connector: {raw['runtime_rate']:,.0f}/s",
        ),
        Figure(
            key="registry.rate_100k",
            title=f"register {n:,} via execute_connector",
            value=raw["runtime_rate"],
            unit="/s",
        ),
    ]
    rss = raw["rss_per_agent"]
    traced = raw["traced_per_agent"]
    memory = Figure(
        key="registry.rss_per_agent",
        title=f"resident memory per agent ({n:,})",
        value=rss if rss is not None else traced,
        unit="B",
        baseline="tracemalloc per agent",
        baseline_value=traced,
        note="RSS of the process, minus the empty runtime",
    )
    figures.append(memory.judge("<=", 1024, on=max(memory.value, traced), unit=" B"))
    listing = raw["list_agents_seconds"]
    figures.append(
        Figure(
            key="registry.list_agents",
            title=f"list_agents of {n:,} (worst of {len(listing)})",
            value=max(listing),
            unit="s",
            note=f"median {statistics.median(listing) * 1000:.0f} ms",
        ).judge("<=", 1.0, on=max(listing), unit=" s")
    )
    return figures, raw


if __name__ == "__main__":
    agents, chunk, reps = (int(arg) for arg in sys.argv[1:4])
    print(json.dumps(asyncio.run(measure(agents, chunk, reps))))
