"""6. Durable registries on the send path, and how fast a change travels between hosts.

* ``send_task`` by ``agent_id`` through ``execute_connector`` (as ``throughput`` does: one caller,
  one request at a time, ``n`` requests per sample, the fleet's first agent process) with the
  SQLite registry (a fresh file, ``JAMEY_SECRET_KEY`` set for the run) against the same runtime
  settings with the in-memory registry; then with the PostgreSQL registry (a fresh database of a
  throwaway server that this benchmark starts, ``tests/throwaway_postgres``) against memory.
  Each pair alternates which side goes first. The ratio is memory's time over the durable one's.
* Propagation (PostgreSQL): two runtimes on one database, as two hosts. 100 times, host A
  re-registers an agent (``replace=true``, a new name) and the clock runs from before A's call
  until host B's store answers the new name; median and worst.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.store.keys import generate_master_key
from jamey_host import SECRET_KEY_VAR, Runtime, RuntimeConfig

from ._common import ROOT, Figure, Settings, Side, log, paired, ratios, timed_calls
from .fleet import Fleet, runtime_settings

CONNECTOR = "agent_orchestration"
CHANGES = 100


@contextlib.contextmanager
def _master_key() -> Iterator[None]:
    previous = os.environ.get(SECRET_KEY_VAR)
    os.environ[SECRET_KEY_VAR] = generate_master_key()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SECRET_KEY_VAR, None)
        else:
            os.environ[SECRET_KEY_VAR] = previous


@contextlib.contextmanager
def _postgres() -> Iterator[str]:
    """A fresh database on a throwaway server, or nothing when PostgreSQL is not installed."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from throwaway_postgres import PostgresServer, find_bindir
    finally:
        sys.path.pop(0)
    if find_bindir() is None:
        raise LookupError("PostgreSQL is not installed")
    with PostgresServer.temporary() as server, server.database() as url:
        yield url


async def _runtime(fleet: Fleet, **extra: str) -> tuple[Runtime, AgentOrchestrationPlugin]:
    plugin = AgentOrchestrationPlugin()
    config = RuntimeConfig(connector_settings=runtime_settings(fleet, **extra))
    runtime = Runtime(config, plugins=[plugin], load_entrypoints=False)
    await runtime.__aenter__()
    return runtime, plugin


def _register(agent_url: str, api_key: str, name: str = "Agent 0") -> dict[str, str]:
    return {
        "action": "register_agent",
        "agent_id": "a0",
        "name": name,
        "url": agent_url,
        "api_key": api_key,
        "replace": "true",
    }


async def _send_pair(
    settings: Settings, fleet: Fleet, registry: str, label: str
) -> tuple[Figure, dict[str, Any]]:
    n = settings.send_requests
    agent_url = f"https://127.0.0.1:{fleet.ports[0]}/agent/0"
    params = {"action": "send_task", "agent_id": "a0", "task": "echo", "param_x": "1"}
    runtimes = {
        "memory": await _runtime(fleet),
        label: await _runtime(fleet, registry=registry),
    }
    try:
        sides: dict[str, Side] = {}
        for name, (runtime, _) in runtimes.items():
            registered = await runtime.execute_connector(
                CONNECTOR, _register(agent_url, fleet.api_key)
            )
            assert registered.success, registered.errors

            async def side(runtime: Runtime = runtime) -> float:
                return await timed_calls(runtime, params, n)

            sides[name] = side
        log(f"registries: send_task, {label} vs memory, {settings.reps} pairs of {n}")
        samples = await paired(sides, settings.reps)
    finally:
        for runtime, _ in runtimes.values():
            await runtime.__aexit__(None, None, None)
    rate = {name: [n / t for t in times] for name, times in samples.items()}
    figure = Figure(
        key=f"registries.send_task_{label}",
        title=f"send_task with the {label} registry",
        value=statistics.median(rate[label]),
        unit="req/s",
        baseline="memory registry",
        baseline_value=statistics.median(rate["memory"]),
        ratio=ratios(samples["memory"], samples[label]),
        ratio_label="of memory",
    ).judge(">=", 0.95)
    return figure, {"requests_per_second": rate}


async def _propagation(fleet: Fleet, url: str) -> tuple[Figure, dict[str, Any]]:
    agent_url = f"https://127.0.0.1:{fleet.ports[0]}/agent/0"
    (a, _), (b, plugin_b) = await _runtime(fleet, registry=url), await _runtime(fleet, registry=url)
    delays: list[float] = []
    try:
        assert (await a.execute_connector(CONNECTOR, _register(agent_url, fleet.api_key))).success
        store_b = plugin_b.store
        log(f"registries: {CHANGES} changes on host A, seen by host B (PostgreSQL)")
        for n in range(CHANGES):
            name = f"Agent 0, version {n}"
            began = time.perf_counter()
            changed = await a.execute_connector(
                CONNECTOR, _register(agent_url, fleet.api_key, name)
            )
            assert changed.success, changed.errors
            while True:
                seen = await store_b.get("a0")
                if seen is not None and seen.name == name:
                    break
                await asyncio.sleep(0.0002)
            delays.append(time.perf_counter() - began)
    finally:
        await a.__aexit__(None, None, None)
        await b.__aexit__(None, None, None)
    figure = Figure(
        key="registries.propagation_worst",
        title=f"a change on one host seen by another, worst of {CHANGES} (PostgreSQL)",
        value=max(delays),
        unit="s",
        note=f"median {statistics.median(delays) * 1000:.1f} ms, worst "
        f"{max(delays) * 1000:.1f} ms (the write itself included)",
    ).judge("<=", 1.0, on=max(delays), unit=" s")
    return figure, {"seconds": delays}


async def run(settings: Settings, fleet: Fleet) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    with _master_key(), tempfile.TemporaryDirectory(prefix="jamey-bench-") as tmp:
        figure, raw["sqlite"] = await _send_pair(
            settings, fleet, str(Path(tmp) / "agents.db"), "SQLite"
        )
        figures.append(figure)
        try:
            with _postgres() as url:
                figure, raw["postgresql"] = await _send_pair(settings, fleet, url, "PostgreSQL")
                figures.append(figure)
                figure, raw["propagation"] = await _propagation(fleet, url)
                figures.append(figure)
        except LookupError as exc:
            log(f"registries: {exc}: no PostgreSQL figures")
    return figures, raw
