"""2. ``send_task`` throughput against one local HTTPS agent: the runtime versus raw aiohttp.

One caller, one request at a time, ``n`` requests per sample, both sides against the same agent
process (the reference ``create_app`` over TLS):

* runtime: ``await runtime.execute_connector("agent_orchestration", {"action": "send_task",
  "agent_id": "a0", "task": "echo", "param_x": "1"})`` - registry lookup, param parsing, URL,
  headers, a fresh ``Idempotency-Key``, the POST, bounded read, strict JSON parse, the result
  (the agent's text as output), the call's ``connector.execute`` event when a sink listens;
* raw: ``session.post(url, data=body, headers=...)`` on one shared ``aiohttp.ClientSession`` whose
  SSL context trusts the same CA (system store plus the CA), with the same headers (including a
  fresh ``Idempotency-Key``), ``await resp.read()`` and ``json.loads``.

With the audit log at INFO, two more sides measure the ceiling any runtime could reach: raw
aiohttp plus, after each answer, the one audit line a send_task writes (the same
``connector.execute`` event built by ``AuditEvent.create`` and written by the runtime's own
sink), and raw aiohttp plus one record of constant text through the same logger and handler.
The goal at INFO is judged against the first: the runtime's rate over that ceiling's.

The agent counts distinct client connections; a pool that is reused opens one per side.

A2A agents are measured in ``benchmarks/a2a.py``.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_host import AUDIT_LOGGER_NAME, AuditEvent, Runtime, RuntimeConfig
from jamey_host.audit import JsonLinesAuditLog

from ._common import Figure, Settings, audit_to_file, log, paired, ratios, timed_calls
from .fleet import Fleet, runtime_settings


async def _connections(session: aiohttp.ClientSession, port: int, reset: bool = False) -> int:
    url = f"https://127.0.0.1:{port}/stats" + ("?reset=1" if reset else "")
    async with session.get(url) as response:
        count: int = (await response.json())["connections"]
    return count


async def run(settings: Settings, fleet: Fleet) -> tuple[list[Figure], dict[str, Any]]:
    n = settings.send_requests
    port = fleet.ports[0]
    agent_url = f"https://127.0.0.1:{port}/agent/0"
    endpoint = agent_url + "/api/v1/tasks"
    figures: list[Figure] = []
    raw: dict[str, Any] = {"requests_per_sample": n}

    config = RuntimeConfig(connector_settings=runtime_settings(fleet))
    plugin = AgentOrchestrationPlugin()
    connector = aiohttp.TCPConnector(ssl=fleet.ca.client_context())
    async with (
        Runtime(config, plugins=[plugin], load_entrypoints=False) as runtime,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        registered = await runtime.execute_connector(
            "agent_orchestration",
            {
                "action": "register_agent",
                "agent_id": "a0",
                "name": "Agent 0",
                "url": agent_url,
                "api_key": fleet.api_key,
            },
        )
        assert registered.success, registered.errors
        params = {"action": "send_task", "agent_id": "a0", "task": "echo", "param_x": "1"}

        async def runtime_side() -> float:
            return await timed_calls(runtime, params, n)

        body = json.dumps({"task": "echo", "params": {"x": "1"}}).encode()
        auth = f"Bearer {fleet.api_key}"

        async def raw_with(after_answer: Callable[[], None] | None) -> float:
            """The raw side; ``after_answer`` (a ceiling's one extra step) runs after each."""
            start = time.perf_counter()
            for _ in range(n):
                headers = {
                    "Authorization": auth,
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                }
                async with session.post(endpoint, data=body, headers=headers) as response:
                    if response.status != 200:
                        raise RuntimeError(f"raw send failed: {response.status}")
                    json.loads(await response.read())
                if after_answer is not None:
                    after_answer()
            return time.perf_counter() - start

        async def raw_side() -> float:
            return await raw_with(None)

        sink = JsonLinesAuditLog()
        origin = agent_url.rsplit("/agent/", 1)[0]

        def audit_line() -> None:  # what the runtime writes for one send_task, built the same way
            sink.audit_event(
                AuditEvent.create(
                    "connector.execute",
                    outcome="success",
                    connector="agent_orchestration",
                    action="send_task",
                    details={
                        "duration_ms": 0.25,
                        "params": params,
                        "agents_contacted": ["a0"],
                        "agent_id": "a0",
                        "origin": origin,
                        "status": 200,
                        "attempts": 1,
                    },
                )
            )

        audit_logger = logging.getLogger(AUDIT_LOGGER_NAME)
        constant = AuditEvent.create("connector.execute", outcome="success").to_json()

        def constant_line() -> None:  # the logging module and the handler alone
            record = audit_logger.makeRecord(
                audit_logger.name, logging.INFO, __file__, 0, constant, (), None, None
            )
            audit_logger.handle(record)

        async def raw_audit_line_side() -> float:
            return await raw_with(audit_line)

        async def raw_constant_line_side() -> float:
            return await raw_with(constant_line)

        sides = {"runtime": runtime_side, "raw": raw_side}
        ceiling = {
            "raw + audit line": raw_audit_line_side,
            "raw + constant line": raw_constant_line_side,
        }
        for mode in ("unconfigured", "info_file"):
            log(f"send_task: audit {mode}, {settings.reps} rounds of {n} requests per side")
            await _connections(session, port, reset=True)
            measured = sides if mode == "unconfigured" else {**sides, **ceiling}
            if mode == "unconfigured":
                samples = await paired(measured, settings.reps)
            else:
                with audit_to_file():
                    samples = await paired(measured, settings.reps)
            connections = await _connections(session, port)
            rate = {side: [n / t for t in ts] for side, ts in samples.items()}
            raw[mode] = {
                "requests_per_second": rate,
                "distinct_client_connections": connections,
                "requests_sent": n * (settings.reps + 1) * len(measured),
            }
            label = "audit unconfigured" if mode == "unconfigured" else "audit INFO -> file"
            figure = Figure(
                key=f"send_task.{mode}",
                title=f"send_task throughput ({label})",
                value=statistics.median(rate["runtime"]),
                unit="req/s",
                baseline="raw aiohttp",
                baseline_value=statistics.median(rate["raw"]),
                ratio=ratios(samples["raw"], samples["runtime"]),
                ratio_label="of raw",
                note=f"{connections} client connections for {raw[mode]['requests_sent']} requests",
            )
            if mode == "unconfigured":
                figure.judge(">=", 0.95)
            else:  # the goal is against the ceiling (next figure): one audit line is stdlib work
                figure.note = f"goal against the ceiling, below; {figure.note}"
            figures.append(figure)
            if mode == "info_file":
                figures.append(
                    Figure(
                        key=f"send_task.{mode}.vs_ceiling",
                        title=f"send_task throughput ({label})",
                        value=statistics.median(rate["runtime"]),
                        unit="req/s",
                        baseline="ceiling: raw + audit line",
                        baseline_value=statistics.median(rate["raw + audit line"]),
                        ratio=ratios(samples["raw + audit line"], samples["runtime"]),
                        ratio_label="of ceiling",
                    ).judge(">=", 0.95)
                )
            for name in ceiling if mode == "info_file" else ():
                ceiling_rate = rate[name]
                figures.append(
                    Figure(
                        key=f"send_task.{mode}.{name.replace(' ', '_').replace('+', 'plus')}",
                        title=f"ceiling: {name}, no runtime (audit INFO -> file)",
                        value=statistics.median(ceiling_rate),
                        unit="req/s",
                        baseline="raw aiohttp",
                        baseline_value=statistics.median(rate["raw"]),
                        ratio=ratios(samples["raw"], samples[name]),
                        ratio_label="of raw",
                    )
                )
    return figures, raw
