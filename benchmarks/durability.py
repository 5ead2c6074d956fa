"""5. Durability: registrations into the SQLite registry, and a broadcast with 100 dead agents.

* SQLite rate: ``register_agent`` through ``execute_connector`` into a runtime whose ``registry``
  setting is a fresh ``<tmpdir>/agents-N.db`` (``JAMEY_SECRET_KEY`` set for the run, restored
  after), sequentially and as one ``asyncio.gather``; the baseline is the in-memory store through
  ``execute_connector``, same counts. Each side gets a fresh runtime; pairs as ``paired`` does.
* Dead agents: 1,000 agents, every tenth (100) at a 127.0.0.1 port below the ephemeral range
  where nothing listens (connection refused), the other 900 served by the fleet. Settings:
  ``timeout`` 2, ``retries`` 3, ``breaker_threshold`` 5, ``breaker_cooldown`` 300, in-memory store.
  After a warm-up broadcast to the live agents only (capability ``live``), broadcasts to all run
  until ``list_agents`` shows all 100 breakers open, then 21 more; each is paired (alternating
  order) with a broadcast of a second runtime holding only the 900 live agents: the baseline.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.store.keys import generate_master_key
from jamey_host import SECRET_KEY_VAR, Runtime, RuntimeConfig

from ._common import Figure, Settings, Side, log, paired, ratios
from .fleet import Fleet, runtime_settings

CONNECTOR = "agent_orchestration"
DEAD_EVERY = 10  # agent i is dead when i % 10 == 9: 100 of 1,000
AFTER_OPEN = 21  # the issue asks for at least 7 pairs per figure; the breakers-open ratio is noisy
MAX_BROADCASTS = 12  # give up waiting for the breakers after this many
_KEY = "k" * 43


def _runtime(settings: dict[str, str]) -> Runtime:
    config = RuntimeConfig(connector_settings={CONNECTOR: settings})
    return Runtime(config, plugins=[AgentOrchestrationPlugin()], load_entrypoints=False)


def _register_params(i: int, url: str, api_key: str, caps: str) -> dict[str, str]:
    return {
        "action": "register_agent",
        "agent_id": f"a{i}",
        "name": f"a{i}",
        "url": url,
        "api_key": api_key,
        "capabilities": caps,
    }


# -- 1. registrations per second ------------------------------------------------------------


async def _register_all(store: Path | None, count: int, concurrent: bool) -> float:
    """Seconds to register ``count`` agents in a fresh runtime (SQLite at ``store``, or memory)."""
    extra = {"allow_networks": "127.0.0.0/8"} | ({"registry": str(store)} if store else {})
    calls = [
        _register_params(i, f"https://127.0.0.1:8443/agent/{i}", _KEY, "echo") for i in range(count)
    ]
    async with _runtime(extra) as runtime:
        execute = runtime.execute_connector
        gc.collect()
        began = time.perf_counter()
        if concurrent:
            results = await asyncio.gather(*(execute(CONNECTOR, call) for call in calls))
        else:
            results = [await execute(CONNECTOR, call) for call in calls]
        elapsed = time.perf_counter() - began
    if not all(result.success for result in results):
        raise RuntimeError(f"registration into {store or 'memory'} failed")
    return elapsed


async def _registrations(settings: Settings) -> tuple[list[Figure], dict[str, Any]]:
    counts = {"sequential": 500, "concurrent": 300} if settings.quick else {}
    counts = counts or {"sequential": 2000, "concurrent": 1000}
    previous = os.environ.get(SECRET_KEY_VAR)
    os.environ[SECRET_KEY_VAR] = generate_master_key()
    figures: list[Figure] = []
    raw: dict[str, Any] = {"counts": counts}
    try:
        with tempfile.TemporaryDirectory(prefix="jamey-bench-") as tmp:
            files = (Path(tmp) / f"agents-{n}.db" for n in range(1_000_000))
            for mode, count in counts.items():
                log(f"durability: {count} {mode} registrations, SQLite vs memory")
                gather = mode == "concurrent"
                # The lambda is called only within this iteration (paired awaits it here).
                pair: dict[str, Side] = {
                    "sqlite": lambda: _register_all(next(files), count, gather),  # noqa: B023
                    "memory": functools.partial(_register_all, None, count, gather),
                }
                samples = raw[mode] = await paired(pair, settings.reps)
                figures.append(
                    Figure(
                        key=f"durability.sqlite_{mode}",
                        title=f"register_agent into SQLite, {count:,} {mode}",
                        value=count / statistics.median(samples["sqlite"]),
                        unit="/s",
                        baseline="memory store",
                        baseline_value=count / statistics.median(samples["memory"]),
                        ratio=ratios(samples["memory"], samples["sqlite"]),
                        ratio_label="of memory",
                    )
                )
    finally:
        if previous is None:
            os.environ.pop(SECRET_KEY_VAR, None)
        else:
            os.environ[SECRET_KEY_VAR] = previous
    return figures, raw


# -- 2. dead agents and their breakers ----------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """Ports where nothing listens: bound, then closed.

    Taken below the ephemeral range, so that no outgoing connection can get one as its own
    source port (a TCP self-connect would then "succeed" and hang in the TLS handshake).
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    ports: list[int] = []
    for port in range(low - 1, 1024, -1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError("no free ports below the ephemeral range")


async def _broadcast(runtime: Runtime, params: dict[str, str], live: int) -> tuple[float, int]:
    """One broadcast: (seconds, failed); raises unless every live agent answered."""
    gc.collect()
    began = time.perf_counter()
    result = await runtime.execute_connector(CONNECTOR, params)
    elapsed = time.perf_counter() - began
    if not result.success or result.metadata.get("succeeded") != str(live):
        raise RuntimeError(f"broadcast: {result.errors} {result.metadata}")
    return elapsed, int(result.metadata["failed"])


async def _open_breakers(runtime: Runtime) -> int:
    result = await runtime.execute_connector(CONNECTOR, {"action": "list_agents"})
    listing = json.loads(result.output)
    return sum(1 for agent in listing if agent.get("health", {}).get("state") == "open")


async def _dead_agents(fleet: Fleet, after_open: int) -> tuple[list[Figure], dict[str, Any]]:
    total = 1000
    dead_ports = iter(_free_ports(total // DEAD_EVERY))
    ports = fleet.ports
    agents = []  # (index, url, capability)
    for i in range(total):
        if i % DEAD_EVERY == DEAD_EVERY - 1:
            agents.append((i, f"https://127.0.0.1:{next(dead_ports)}/agent/{i}", "dead"))
        else:
            agents.append((i, f"https://127.0.0.1:{ports[i % len(ports)]}/agent/{i}", "live"))
    live = [agent for agent in agents if agent[2] == "live"]
    dead = total - len(live)
    extra = {"timeout": "2", "retries": "3", "breaker_threshold": "5", "breaker_cooldown": "300"}
    config = runtime_settings(fleet, max_concurrency="64", **extra)[CONNECTOR]
    everyone = {"action": "broadcast", "task": "echo", "param_x": "1"}
    raw: dict[str, Any] = {"settings": extra, "dead": dead, "live": len(live)}

    async with _runtime(config) as mixed, _runtime(config) as baseline:
        for runtime, group in ((mixed, agents), (baseline, live)):
            for i, url, caps in group:
                result = await runtime.execute_connector(
                    CONNECTOR, _register_params(i, url, fleet.api_key, caps)
                )
                assert result.success, result.errors
        # Warm both pools (TLS handshakes) without touching the dead agents' breakers.
        await _broadcast(mixed, {**everyone, "capability": "live"}, len(live))
        await _broadcast(baseline, everyone, len(live))

        failed: list[int] = []  # of every broadcast of the mixed runtime

        async def mixed_side() -> float:
            elapsed, count = await _broadcast(mixed, everyone, len(live))
            failed.append(count)
            return elapsed

        async def baseline_side() -> float:
            return (await _broadcast(baseline, everyone, len(live)))[0]

        sides: dict[str, Side] = {"mixed": mixed_side, "baseline": baseline_side}
        log(f"durability: broadcasts to {total} agents, {dead} dead, until the breakers open")
        before: dict[str, list[float]] = {"mixed": [], "baseline": []}
        opened: list[int] = []  # open breakers after each broadcast
        while not opened or opened[-1] < dead:
            if len(opened) == MAX_BROADCASTS:
                raise RuntimeError(f"breakers still closed after {MAX_BROADCASTS}: {opened}")
            for name in list(sides)[:: 1 if len(opened) % 2 == 0 else -1]:  # A-B, B-A, ...
                before[name].append(await sides[name]())
            opened.append(await _open_breakers(mixed))
        n = len(opened)
        log(f"durability: {after_open} pairs with every breaker open")
        after = await paired(sides, after_open, warmup=0)
        refused = json.loads((await mixed.execute_connector(CONNECTOR, everyone)).output)
        errors = [str(answer.get("error", "")) for answer in refused.values()]
        fast = sum(1 for error in errors if error.startswith("circuit open"))

    after_failed, failed = failed[n:], failed[:n]
    raw.update(before=before, after=after, failed=failed, after_failed=after_failed)
    raw.update(open_after_each=opened, circuit_open_answers=fast)
    figures = [
        Figure(
            key="durability.dead_closed",
            title=f"broadcast {total}, {dead} dead, breakers closed (1st)",
            value=before["mixed"][0],
            unit="s",
            baseline=f"{len(live)} live only",
            baseline_value=statistics.median(before["baseline"]),
            ratio=ratios(before["mixed"], before["baseline"]),
            ratio_label=f"x live ({n} broadcasts)",
            note=f"each of the {n}: {', '.join(f'{t * 1000:.0f}' for t in before['mixed'])} ms, "
            f"failed {failed}",
        ),
        Figure(
            key="durability.broadcasts_to_open",
            title=f"broadcasts until all {dead} breakers open",
            value=n,
            unit="",
            note=f"open after each: {opened}",
        ).judge("<=", 5, on=n),
        Figure(
            key="durability.dead_open",
            title=f"broadcast {total}, {dead} dead, breakers open",
            value=statistics.median(after["mixed"]),
            unit="s",
            baseline=f"{len(live)} live only",
            baseline_value=statistics.median(after["baseline"]),
            ratio=ratios(after["mixed"], after["baseline"]),
            ratio_label="x live",
            note=f"median of {after_open}; failed {after_failed}, "
            f"{fast} of {dead} answers 'circuit open'",
        ).judge("<=", 1.1),
    ]
    return figures, raw


async def run(settings: Settings, fleet: Fleet) -> tuple[list[Figure], dict[str, Any]]:
    figures, raw = await _registrations(settings)
    after_open = settings.reps if settings.quick else AFTER_OPEN
    more, raw["dead_agents"] = await _dead_agents(fleet, after_open)
    return figures + more, raw
