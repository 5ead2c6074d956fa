"""``python -m benchmarks.telemetry_worker MODE PORT CA``: a send_task runtime, one telemetry setup.

Started by :mod:`benchmarks.telemetry`, one process per mode, since a global provider can be set
once per process and "OpenTelemetry not installed" needs its import blocked before jamey_host is
imported (this module imports nothing else at its top):

* ``none``: ``opentelemetry`` made unimportable (a ``sys.meta_path`` finder), as without the extra;
* ``api``: the API alone, no provider set (the common library case);
* ``sdk``: the SDK's ``TracerProvider`` with a ``BatchSpanProcessor`` exporting to an exporter that
  drops the spans, and a ``MeterProvider`` whose ``PeriodicExportingMetricReader`` (the SDK's
  default interval) exports to one that drops the metrics: the SDK's defaults otherwise (exemplars
  included), so only the export itself is left out;
* ``sdk-no-exemplars``: ``sdk`` with ``OTEL_METRICS_EXEMPLAR_FILTER=always_off`` (a host's choice);
* ``sdk-sampled``: ``sdk`` with one trace in ten sampled (``OTEL_TRACES_SAMPLER`` set by the
  parent to ``parentbased_traceidratio``, argument 0.1);
* ``sdk-traces``, ``sdk-metrics``: the tracer provider alone, the meter provider alone (where the
  time goes).

The worker starts a runtime with the agent connector, registers the fleet's agent at ``PORT``
(trusting the CA file ``CA``, key from ``$BENCH_AGENT_API_KEY``), warms up, prints one JSON line,
then answers commands on stdin, one JSON line each (seconds):

* ``send N``: N send_tasks one after another;
* ``send-off N``: the same with both telemetry modules switched off (their ``ENABLED`` false: the
  very code path of an interpreter where the import failed), in this same process;
* ``facade N``: N times the telemetry calls of one send_task and nothing else (``start_call``, the
  agent's ``agent_target``, ``start_attempt``, ``with_trace_headers``, both ``end``);
* ``floor N`` (SDK modes): the same spans, attributes, header injection and duration measurement
  made on the SDK directly, without the facades (the two counters are plain integers there, as in
  the facades): what any instrumentation recording the contract's telemetry this way pays;
* ``quit``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MODES = ("none", "api", "sdk", "sdk-no-exemplars", "sdk-sampled", "sdk-traces", "sdk-metrics")


class _Uninstalled:
    """A ``sys.meta_path`` finder: ``opentelemetry`` cannot be imported, as if not installed."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _install_sdk(*, traces: bool = True, metrics_too: bool = True) -> tuple[Any, Any]:
    """The SDK's providers, set as the global ones (both, or only one of them); both returned."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DroppedSpans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DroppedMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
            pass

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DroppedSpans()))
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(DroppedMetrics())])
    if traces:
        trace.set_tracer_provider(provider)
    if metrics_too:
        metrics.set_meter_provider(meter_provider)
    return provider, meter_provider


@contextmanager
def _switched_off() -> Iterator[None]:
    """Both telemetry modules as if OpenTelemetry were not installed: each reads ``ENABLED`` at
    every call, and takes its no-op path when it is false."""
    from jamey_agent_orchestration import telemetry as agents
    from jamey_host import telemetry as host

    saved = host.ENABLED, agents.ENABLED
    host.ENABLED = agents.ENABLED = False
    try:
        yield
    finally:
        host.ENABLED, agents.ENABLED = saved


def _facade() -> Callable[[], None]:
    """The telemetry of one jamey send_task through the facades, as the runtime makes it."""
    from jamey_agent_orchestration import telemetry as agents
    from jamey_agent_orchestration.actions import SPEC
    from jamey_host import ConnectorResult
    from jamey_host import telemetry as host

    result = ConnectorResult.ok("{}")
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
    actions = SPEC.actions

    def one() -> None:
        call = host.start_call("agent_orchestration", actions)
        target = agents.agent_target("a0", "Agent a0", "https://127.0.0.1:8443", "jamey")
        with agents.start_attempt(target) as attempt:
            attempt.with_trace_headers(headers)
            attempt.end(ok=True, status=200)
        call.end("success", result, "send_task")

    return one


def _floor(provider: Any, meter_provider: Any) -> Callable[[], None]:
    """The same telemetry made on the SDK directly: two spans, one histogram measurement, one
    header injection, two counts."""
    from opentelemetry import context, propagate, trace

    tracer = provider.get_tracer("bench", "0")
    meter = meter_provider.get_meter("bench", "0")
    duration = meter.create_histogram("bench.duration", unit="s")
    counts = {"calls": 0, "requests": 0}
    call_attributes = {"jamey.connector": "c", "jamey.action": "send_task"}
    outcome = {"jamey.connector": "c", "jamey.action": "send_task", "jamey.outcome": "success"}
    attempt_attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": "a0",
        "gen_ai.agent.name": "Agent a0",
        "server.address": "127.0.0.1",
        "server.port": 8443,
        "jamey.agent.protocol": "jamey",
    }
    client = trace.SpanKind.CLIENT

    def one() -> None:
        call = tracer.start_span("execute_connector c", attributes=call_attributes)
        token = context.attach(trace.set_span_in_context(call))
        attempt = tracer.start_span("invoke_agent a0", None, client, attempt_attributes)
        propagate.inject({}, trace.set_span_in_context(attempt))
        attempt.set_attribute("http.response.status_code", 200)
        counts["requests"] += 1
        attempt.end()
        counts["calls"] += 1
        duration.record(0.0003, outcome)
        call.set_attribute("jamey.outcome", "success")
        context.detach(token)
        call.end()

    return one


def _timed(body: Callable[[], None], count: int) -> float:
    import time

    started = time.perf_counter()
    for _ in range(count):
        body()
    return time.perf_counter() - started


async def _serve(mode: str, port: int, ca: str) -> None:
    import asyncio
    import functools
    import gc
    import json
    import os

    providers = None
    if mode.startswith("sdk"):
        providers = _install_sdk(traces=mode != "sdk-metrics", metrics_too=mode != "sdk-traces")

    from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
    from jamey_host import Runtime, RuntimeConfig
    from jamey_host import telemetry as host_telemetry

    from ._common import timed_calls

    settings = {"ca_bundle": ca, "allow_networks": "127.0.0.0/8"}
    config = RuntimeConfig(connector_settings={"agent_orchestration": settings})
    facade = _facade()
    floor = None if providers is None else _floor(*providers)
    async with Runtime(config, plugins=[AgentOrchestrationPlugin()], load_entrypoints=False) as rt:
        registration = {
            "action": "register_agent",
            "agent_id": "a0",
            "name": "Agent a0",
            "url": f"https://127.0.0.1:{port}/agent/0",
            "api_key": os.environ["BENCH_AGENT_API_KEY"],
        }
        registered = await rt.execute_connector("agent_orchestration", registration)
        assert registered.success, registered.errors
        params = {"action": "send_task", "agent_id": "a0", "task": "echo", "param_x": "1"}
        send = functools.partial(timed_calls, rt, params)

        await send(200)  # warm up: the connection, caches, the proxies' real objects
        with _switched_off():
            await send(200)
        _timed(facade, 2000)
        imported = any(name.split(".")[0] == "opentelemetry" for name in sys.modules)
        ready = {"mode": mode, "enabled": host_telemetry.ENABLED, "imported": imported}
        print(json.dumps(ready), flush=True)
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if not line or line[0] == "quit":
                break
            command, count = line[0], int(line[1])
            gc.collect()
            if command == "send":
                seconds = await send(count)
            elif command == "send-off":
                with _switched_off():
                    seconds = await send(count)
            elif command == "facade":
                seconds = _timed(facade, count)
            elif command == "floor" and floor is not None:
                seconds = _timed(floor, count)
            else:
                raise SystemExit(f"unknown command {line!r} in mode {mode}")
            print(json.dumps(seconds), flush=True)
    if providers is not None:
        providers[0].shutdown()
        providers[1].shutdown()


def main() -> None:
    mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode not in MODES:
        raise SystemExit(f"mode is one of {', '.join(MODES)}, not {mode!r}")
    if mode == "none":
        sys.meta_path.insert(0, _Uninstalled())
    import asyncio

    asyncio.run(_serve(mode, port, ca))


if __name__ == "__main__":
    main()
