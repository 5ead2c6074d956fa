"""The telemetry facades' cost per send_task: ``python -m benchmarks.telemetry_overhead``, by hand.

Not part of ``python -m benchmarks`` yet: the runtime and the connector are not wired to the
facades, so this times what a send_task will call on them, next to a real send_task measured in
the same process (one HTTPS agent process on 127.0.0.1, as in the throughput benchmark). The two
sides alternate; each pair gives one ratio, facade time over send_task time: the share of a
send_task the telemetry will add once wired. ``--quick`` for a smoke run.

One request's telemetry is: ``start_call``, the agent's cached ``agent_target``,
``start_attempt``, ``with_trace_headers``, ``AttemptSpan.end`` and ``ConnectorCall.end``. Each
mode runs in a fresh interpreter, since a global provider can be set once per process and
"not installed" needs the import blocked:

* none: ``opentelemetry`` made unimportable (a ``sys.meta_path`` finder), as without the extra;
* api: the API alone, no provider set (the common library case; goal: within 2 % of a send_task);
* sdk: the SDK's ``TracerProvider`` with a ``BatchSpanProcessor`` exporting to a no-op exporter,
  and a ``MeterProvider`` whose periodic reader exports to a no-op exporter (goal: within 10 %).

In the sdk mode the same spans, attributes, header injection and measurements are also made on
the SDK directly (the floor: what any instrumentation recording the contract's telemetry pays),
and ``start_span(...).end()`` is timed on the API's ``ProxyTracer`` (what ``trace.get_tracer``
returns before a provider is set, and what the facades keep) against the provider's own tracer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._common import ROOT

MODES = {
    "none": ("no OpenTelemetry installed", None),
    "api": ("API, no SDK (no provider)", 2.0),
    "sdk": ("SDK + BatchSpanProcessor, no-op exporters", 10.0),
}


class _Uninstalled:
    """A ``sys.meta_path`` finder: ``opentelemetry`` cannot be imported, as if not installed."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _install_sdk() -> Any:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class NoSpans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class NoMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
            pass

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoSpans()))
    trace.set_tracer_provider(provider)
    reader = PeriodicExportingMetricReader(NoMetrics(), export_interval_millis=60_000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return provider


def _facade_request() -> Callable[[], None]:
    from jamey_agent_orchestration import telemetry as agents
    from jamey_host import ConnectorResult
    from jamey_host import telemetry as host

    result = ConnectorResult.ok("{}")
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}

    def request() -> None:
        call = host.start_call("agent_orchestration")
        target = agents.agent_target("a0", "Agent a0", "https://127.0.0.1:8443", "jamey")
        with agents.start_attempt(target) as attempt:
            attempt.with_trace_headers(headers)
            attempt.end(ok=True, status=200)
        call.end("success", result, "send_task")

    return request


def _bare_sdk_request(provider: Any) -> Callable[[], None]:
    """The contract's telemetry of one send_task made on the SDK directly, with no facade."""
    from opentelemetry import metrics, propagate, trace

    tracer = provider.get_tracer("bench", "0")
    meter = metrics.get_meter_provider().get_meter("bench", "0")
    calls = meter.create_counter("bench.calls")
    duration = meter.create_histogram("bench.duration", unit="s")
    requests = meter.create_counter("bench.requests")
    call_attributes = {"jamey.connector": "c", "jamey.action": "send_task", "jamey.outcome": "ok"}
    request_attributes = {"gen_ai.agent.id": "a0", "jamey.outcome": "success"}
    attempt_attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": "a0",
        "gen_ai.agent.name": "Agent a0",
        "server.address": "127.0.0.1",
        "server.port": 8443,
        "jamey.agent.protocol": "jamey",
    }
    client = trace.SpanKind.CLIENT

    def request() -> None:
        call = tracer.start_span("execute_connector c")
        parent = trace.set_span_in_context(call)
        attempt = tracer.start_span("invoke_agent a0", parent, client, attempt_attributes)
        propagate.inject({}, trace.set_span_in_context(attempt))
        attempt.set_attribute("http.response.status_code", 200)
        requests.add(1, request_attributes)
        attempt.end()
        call.set_attributes(call_attributes)
        calls.add(1, call_attributes)
        duration.record(0.0003, call_attributes)
        call.end()

    return request


def _timed(body: Callable[[], None], calls: int) -> Callable[[], Awaitable[float]]:
    async def side() -> float:
        return _loop_us(body, calls)

    return side


def _spread(numerators: list[float], denominators: list[float], scale: float) -> dict[str, float]:
    """Median, min and max of the pair-by-pair ratios, times ``scale``."""
    ratios = [a / b * scale for a, b in zip(numerators, denominators, strict=True)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def _loop_us(body: Callable[[], None], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        body()
    return (time.perf_counter() - started) / calls * 1e6


async def _send_task_side(requests: int) -> tuple[Callable[[], Awaitable[float]], Any]:
    """A started runtime with one registered agent; the side times ``requests`` send_tasks."""
    from contextlib import AsyncExitStack

    from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
    from jamey_host import Runtime, RuntimeConfig

    from .fleet import Fleet, runtime_settings

    stack = AsyncExitStack()
    fleet = stack.enter_context(Fleet(1))
    config = RuntimeConfig(connector_settings=runtime_settings(fleet))
    runtime = await stack.enter_async_context(
        Runtime(config, plugins=[AgentOrchestrationPlugin()], load_entrypoints=False)
    )
    url = f"https://127.0.0.1:{fleet.ports[0]}/agent/0"
    registration = {"agent_id": "a0", "name": "Agent 0", "url": url, "api_key": fleet.api_key}
    registered = await runtime.execute_connector(
        "agent_orchestration", {"action": "register_agent", **registration}
    )
    assert registered.success, registered.errors
    params = {"action": "send_task", "agent_id": "a0", "task": "echo", "param_x": "1"}

    async def side() -> float:
        started = time.perf_counter()
        for _ in range(requests):
            result = await runtime.execute_connector("agent_orchestration", params)
            if not result.success:
                raise RuntimeError(f"send_task failed: {result.errors}")
        return (time.perf_counter() - started) / requests * 1e6

    return side, stack


async def _measure(mode: str, calls: int, requests: int, reps: int) -> dict[str, Any]:
    """Run in the child interpreter of ``mode``."""
    if mode == "none":
        sys.meta_path.insert(0, _Uninstalled())  # type: ignore[arg-type]
    provider = _install_sdk() if mode == "sdk" else None
    facade = _facade_request()
    bare = None if provider is None else _bare_sdk_request(provider)
    send_task, stack = await _send_task_side(requests)
    sides: dict[str, Callable[[], Awaitable[float]]] = {"send_task": send_task}
    sides["facade"] = _timed(facade, calls)
    if bare is not None:
        sides["bare_sdk"] = _timed(bare, calls)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    async with stack:
        for side in sides.values():  # warm up: caches, the proxies' real objects, SDK buffers
            await side()
        names = list(sides)
        for rep in range(reps):  # rotate the order, so that a slow spell hits every side alike
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                samples[name].append(await sides[name]())
    figures: dict[str, Any] = {name: statistics.median(values) for name, values in samples.items()}
    figures["share"] = _spread(samples["facade"], samples["send_task"], 100)
    if bare is not None:
        figures["over_bare"] = _spread(samples["facade"], samples["bare_sdk"], 1)
    if provider is not None:
        from opentelemetry import trace

        proxy = trace.ProxyTracer("bench", "0")  # follows the provider set since
        direct = provider.get_tracer("bench", "0")
        figures["proxy_span"] = _loop_us(lambda: proxy.start_span("span").end(), calls)
        figures["direct_span"] = _loop_us(lambda: direct.start_span("span").end(), calls)
        provider.shutdown()
    elif mode == "api":
        from opentelemetry import trace

        proxy = trace.ProxyTracer("bench", "0")
        figures["proxy_span"] = _loop_us(lambda: proxy.start_span("span").end(), calls)
    figures["opentelemetry_imported"] = any(
        name.split(".")[0] == "opentelemetry" for name in sys.modules
    )
    return figures


def _run_child(mode: str, calls: int, requests: int, reps: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.telemetry_overhead", "--child", mode]
    command += ["--calls", str(calls), "--requests", str(requests), "--reps", str(reps)]
    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=900
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the {mode} run failed:\n{completed.stderr}")
    figures: dict[str, Any] = json.loads(completed.stdout)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telemetry_overhead")
    parser.add_argument("--quick", action="store_true", help="fewer calls, for a smoke run")
    parser.add_argument("--calls", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    calls = args.calls or (2_000 if args.quick else 20_000)
    requests = args.requests or (100 if args.quick else 400)
    reps = args.reps or (3 if args.quick else 11)
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.child, calls, requests, reps))))
        return 0

    results = {mode: _run_child(mode, calls, requests, reps) for mode in MODES}
    print(
        f"telemetry of one send_task ({calls} facade calls and {requests} send_tasks per run, "
        f"{reps} alternating runs per mode; medians)"
    )
    header = f"{'mode':42} {'telemetry':>10} {'send_task':>10} {'share [min-max]':>22} {'goal':>6}"
    print(header)
    for mode, (title, goal) in MODES.items():
        figures = results[mode]
        share = figures["share"]
        spread = f"{share['median']:.2f}% [{share['min']:.2f}-{share['max']:.2f}]"
        verdict = "-" if goal is None else ("PASS" if share["median"] <= goal else "MISS")
        print(
            f"{title:42} {figures['facade']:>7.2f} µs {figures['send_task']:>7.1f} µs "
            f"{spread:>22} {'-' if goal is None else f'{goal:g}%':>6} {verdict}"
        )
    sdk = results["sdk"]
    print()
    over = sdk["over_bare"]
    print(
        f"the same telemetry on the bare SDK (the floor): {sdk['bare_sdk']:.2f} µs; the facades "
        f"take {over['median']:.2f} [{over['min']:.2f}-{over['max']:.2f}] x the floor"
    )
    spans = {
        "one span, start_span(...).end(), ProxyTracer, no provider": results["api"]["proxy_span"],
        "one span, ProxyTracer, the SDK provider set since": sdk["proxy_span"],
        "one span, the SDK provider's own tracer": sdk["direct_span"],
    }
    for title, value in spans.items():
        print(f"{title:58} {value:>7.2f} µs")
    if results["none"]["opentelemetry_imported"]:
        print("\nERROR: opentelemetry was imported with the API blocked")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
