"""Without OpenTelemetry, and with its API but no SDK: each in a fresh interpreter.

The suite's own process has the SDK's providers installed (and a2a-sdk pulls in the API anyway),
so these run ``python -c`` with a ``sys.meta_path`` finder that makes the blocked packages
unimportable, exactly as if they were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = """
import sys

class Uninstalled:
    def __init__(self, *prefixes):
        self.prefixes = prefixes

    def find_spec(self, name, path=None, target=None):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in self.prefixes):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

"""


# One request as the runtime and the connector trace it (imported when called, after the script
# has blocked what it blocks); the headers the request would carry.
ONE_REQUEST = """
def one_request():
    from jamey_host import ConnectorResult, telemetry as host
    from jamey_agent_orchestration import telemetry as agents

    target = agents.agent_target("a1", "A", "https://example.com", "jamey")
    call = host.start_call("agents", ("send_task",))
    with agents.start_attempt(target) as attempt:
        sent = attempt.with_trace_headers({})
        attempt.end(ok=True, status=200)
    call.end("success", ConnectorResult.ok(), "send_task")
    return sent

"""


def run(script: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", BLOCKER + ONE_REQUEST + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_without_the_api_nothing_of_opentelemetry_is_imported_and_all_is_a_no_op() -> None:
    out = run(
        """
        sys.meta_path.insert(0, Uninstalled("opentelemetry"))
        import asyncio

        import jamey_host
        import jamey_agent_orchestration.plugin
        import jamey_agent_orchestration.testing.server
        import jamey_agent_orchestration.net.transport
        from jamey_host import ConnectorResult, telemetry as host
        from jamey_agent_orchestration import telemetry as agents

        assert not host.ENABLED and not agents.ENABLED
        call = host.start_call("echo", ("say",))
        assert call is host.start_call("other", None)  # one shared object: nothing built per call
        call.end("failure", ConnectorResult.fail("x"), "say")

        target = agents.agent_target("a1", "A", "https://u:p@example.com/x", "jamey")
        assert target is agents.agent_target("a2", None, "https://example.com", "a2a")
        attempt = agents.start_attempt(target, resend_count=1)
        assert attempt is agents.start_attempt(target)
        headers = {"Authorization": "Bearer k"}
        assert attempt.with_trace_headers(headers) is headers  # not even copied
        with attempt:
            attempt.end(ok=False, status=503, error="boom")
        with agents.start_card_fetch(target) as fetch:
            assert fetch.with_trace_headers(headers) is headers
            fetch.end(ok=True, status=200)
        with agents.start_broadcast(agents=1) as broadcast, agents.start_delivery(target) as one:
            one.end(ok=True, attempts=1)
            broadcast.end(succeeded=1, failed=0)
        agents.circuit_changed("a1", was_open=False, is_open=True)

        middleware = agents.incoming_trace_middleware()

        async def handler(request):
            return "answer"

        assert asyncio.run(middleware(object(), handler)) == "answer"
        print(sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry"))
        """
    )
    assert out.strip() == "[]"


def test_with_the_api_alone_nothing_is_traced_until_a_provider_is_set_later() -> None:
    out = run(
        """
        blocker = Uninstalled("opentelemetry.sdk")
        sys.meta_path.insert(0, blocker)

        from jamey_host import ConnectorResult, telemetry as host
        from jamey_agent_orchestration import telemetry as agents

        assert host.ENABLED and agents.ENABLED
        assert one_request() == {}  # API alone: no span, no header (TRAPS)

        # The host sets its providers after jamey_host was imported and used.
        sys.meta_path.remove(blocker)
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

        sent = one_request()
        spans = {span.name: span for span in exporter.get_finished_spans()}
        assert sorted(spans) == ["execute_connector agents", "invoke_agent a1"], sorted(spans)
        attempt, call = spans["invoke_agent a1"], spans["execute_connector agents"]
        assert attempt.parent.span_id == call.context.span_id
        assert sent["traceparent"].split("-")[2] == f"{attempt.context.span_id:016x}"
        names = {
            metric.name
            for resource in reader.get_metrics_data().resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
        print(sorted(names))
        """
    )
    assert out.strip() == str(
        ["jamey.agent.requests", "jamey.connector.calls", "jamey.connector.duration"]
    )


def test_with_the_api_alone_a_remote_parent_in_the_context_is_carried_on() -> None:
    # Propagation without recording: a host that extracted an incoming traceparent (and set no
    # provider) passes that trace on to every agent; a context holding no span passes nothing.
    out = run(
        """
        sys.meta_path.insert(0, Uninstalled("opentelemetry.sdk"))
        from opentelemetry import baggage, context, trace

        from jamey_host import ConnectorResult, tracing_active, telemetry as host
        from jamey_agent_orchestration import telemetry as agents

        assert not tracing_active() and one_request() == {}
        token = context.attach(baggage.set_baggage("tenant", "t1"))  # a context, with no span
        assert not tracing_active() and one_request() == {}
        context.detach(token)

        parent = trace.SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent)))
        assert tracing_active()
        print(one_request()["traceparent"])
        context.detach(token)
        assert not tracing_active()
        """
    )
    assert out.strip() == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_with_a_meter_provider_and_no_tracer_provider_calls_are_counted_and_not_traced() -> None:
    out = run(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

        from jamey_host import ConnectorResult, tracing_active, telemetry as host
        from jamey_agent_orchestration import telemetry as agents

        assert not tracing_active()
        target = agents.agent_target("a1", "A", "https://example.com", "jamey")
        for ok in (True, True, False):
            call = host.start_call("agents", ("send_task",))
            with agents.start_attempt(target) as attempt:
                assert attempt.with_trace_headers({}) == {}
                attempt.end(ok=ok, status=200 if ok else 503)
            result = ConnectorResult.ok() if ok else ConnectorResult.fail("x")
            call.end("success" if ok else "failure", result, "send_task")

        points = {}
        for resource in reader.get_metrics_data().resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        outcome = point.attributes.get("jamey.outcome")
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # the duration histogram
                        points[(metric.name, outcome)] = value
        print(sorted(points.items()))
        """
    )
    assert out.strip() == str(
        [
            (("jamey.agent.requests", "failure"), 1),
            (("jamey.agent.requests", "success"), 2),
            (("jamey.connector.calls", "failure"), 1),
            (("jamey.connector.calls", "success"), 2),
            (("jamey.connector.duration", "failure"), 1),
            (("jamey.connector.duration", "success"), 2),
        ]
    )
