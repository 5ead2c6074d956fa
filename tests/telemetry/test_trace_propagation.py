"""The W3C trace context over real HTTPS: what an agent receives, and the reference agent
continuing it in a server span (agent and client share this process's SDK).

The reference agent's applications (``create_app``, ``create_a2a_app``) put
``incoming_trace_middleware`` first by themselves; these tests pass no middleware.
"""

from __future__ import annotations

import json

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from otel_setup import OtelCapture

from jamey_agent_orchestration.telemetry import (
    agent_target,
    incoming_trace_middleware,
    start_attempt,
    start_card_fetch,
)
from jamey_agent_orchestration.testing import AgentServerFactory
from jamey_agent_orchestration.testing.a2a_server import CARD_PATH, create_a2a_app
from jamey_agent_orchestration.testing.agents import ThrowawayCA
from jamey_agent_orchestration.testing.server import (
    TASKS_PATH,
    AgentServer,
    TaskRequest,
    create_app,
)

tracer = trace.get_tracer("tests.telemetry")
KEY = "canary-key-0c9e41d2"


def _traceparent_of(span_context: trace.SpanContext) -> str:
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{span_context.trace_flags:02x}"
    )


async def test_every_attempt_sends_the_traceparent_of_its_own_span(
    otel: OtelCapture, jamey_agent_server: AgentServerFactory, jamey_agent_ca: ThrowawayCA
) -> None:
    agent = await jamey_agent_server(name="a1")
    agent.fail_next(503)
    target = agent_target("a1", "Agent a1", agent.url, "jamey")
    headers = {"Authorization": f"Bearer {agent.api_key}", "Content-Type": "application/json"}
    body = json.dumps({"task": "health_check", "params": {}})
    connector = aiohttp.TCPConnector(ssl=jamey_agent_ca.client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        for resend_count in range(2):
            with start_attempt(target, resend_count=resend_count) as attempt:
                async with session.post(
                    agent.url + TASKS_PATH, data=body, headers=attempt.with_trace_headers(headers)
                ) as response:
                    await response.read()
                attempt.end(ok=response.status == 200, status=response.status)

    attempts = [span for span in otel.spans() if span.name == "invoke_agent a1"]
    received = [request.headers.get("traceparent") for request in agent.requests]
    assert received == [_traceparent_of(span.context) for span in attempts]
    assert len(set(received)) == 2  # one span, and one traceparent, per attempt
    assert [(span.attributes or {}).get("http.response.status_code") for span in attempts] == [
        503,
        200,
    ]
    assert attempts[0].attributes is not None
    assert attempts[0].attributes["server.port"] == agent.port


async def test_the_reference_agent_continues_the_incoming_trace(
    otel: OtelCapture, jamey_agent_ca: ThrowawayCA
) -> None:
    def traced_task(request: TaskRequest) -> dict[str, str]:
        with tracer.start_as_current_span("agent work"):
            return {"done": "yes"}

    app = create_app(api_key=KEY, handlers={"traced": traced_task})
    async with AgentServer(app, ssl_context=jamey_agent_ca.server_context()) as server:
        target = agent_target("a1", "Agent a1", server.url, "jamey")
        connector = aiohttp.TCPConnector(ssl=jamey_agent_ca.client_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            with start_attempt(target) as attempt:
                headers = attempt.with_trace_headers({"Authorization": f"Bearer {KEY}"})
                async with session.post(
                    server.url + TASKS_PATH, json={"task": "traced"}, headers=headers
                ) as response:
                    assert await response.json() == {"done": "yes"}
                attempt.end(ok=True, status=response.status)

    spans = {span.name: span for span in otel.spans()}
    client = spans["invoke_agent a1"]
    served = spans["POST /api/v1/tasks"]
    work = spans["agent work"]
    assert served.kind is SpanKind.SERVER
    assert served.parent is not None
    assert served.parent.span_id == client.context.span_id
    assert served.parent.is_remote
    assert served.context.trace_id == client.context.trace_id
    assert work.parent is not None
    assert work.parent.span_id == served.context.span_id
    assert dict(served.attributes or {}) == {
        "http.request.method": "POST",
        "http.route": "/api/v1/tasks",
        "http.response.status_code": 200,
    }
    assert served.status.status_code is StatusCode.UNSET
    assert not any(KEY in text for text in otel.everything())


async def test_refused_unknown_and_odd_requests_are_server_spans_without_error(
    otel: OtelCapture, jamey_agent_ca: ThrowawayCA
) -> None:
    app = create_app(api_key=KEY)
    async with AgentServer(app, ssl_context=jamey_agent_ca.server_context()) as server:
        connector = aiohttp.TCPConnector(ssl=jamey_agent_ca.client_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            wrong_key = {"Authorization": "Bearer canary-wrong-key-77"}
            async with session.post(server.url + TASKS_PATH, json={}, headers=wrong_key) as one:
                assert one.status == 401
            async with session.get(server.url + f"/{KEY}/nowhere") as other:
                assert other.status == 404
            async with session.request("PROPFIND", server.url + TASKS_PATH) as odd:
                assert odd.status == 405

    refused = otel.span("POST /api/v1/tasks")
    assert refused.parent is None  # no traceparent came: a trace of its own
    assert refused.attributes is not None
    assert refused.attributes["http.response.status_code"] == 401
    assert refused.status.status_code is StatusCode.UNSET  # a 4xx is the client's error
    unknown, odd = (span for span in otel.spans() if span.name == "HTTP")  # no route matched
    assert dict(unknown.attributes or {}) == {  # and so no path either
        "http.request.method": "GET",
        "http.response.status_code": 404,
    }
    assert dict(odd.attributes or {}) == {  # PROPFIND: outside the HTTP standard set
        "http.request.method": "_OTHER",
        "http.response.status_code": 405,
    }
    texts = otel.everything()
    assert not any(KEY in text or "canary-wrong-key-77" in text for text in texts)


async def test_a_card_fetch_sends_its_own_traceparent(
    otel: OtelCapture, jamey_agent_server: AgentServerFactory, jamey_agent_ca: ThrowawayCA
) -> None:
    agent = await jamey_agent_server(name="b1")
    agent.respond_with(body=json.dumps({"name": "b1"}), times=1)
    target = agent_target("b1", "Agent b1", agent.url, "a2a")
    connector = aiohttp.TCPConnector(ssl=jamey_agent_ca.client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        with start_card_fetch(target) as fetch:
            card_url = agent.url + "/.well-known/agent-card.json"
            async with session.get(card_url, headers=fetch.with_trace_headers({})) as response:
                await response.read()
            fetch.end(ok=True, status=response.status)

    span = otel.span("fetch_agent_card b1")
    assert agent.requests[0].headers["traceparent"] == _traceparent_of(span.context)


async def test_the_reference_agent_in_a2a_mode_continues_the_incoming_trace(
    otel: OtelCapture, jamey_agent_ca: ThrowawayCA
) -> None:
    app = create_a2a_app(api_key=KEY)
    async with AgentServer(app, ssl_context=jamey_agent_ca.server_context()) as server:
        target = agent_target("b1", None, server.url, "a2a")
        connector = aiohttp.TCPConnector(ssl=jamey_agent_ca.client_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            with start_card_fetch(target) as fetch:
                headers = fetch.with_trace_headers({"A2A-Version": "1.0"})
                async with session.get(server.url + CARD_PATH, headers=headers) as response:
                    await response.read()
                fetch.end(ok=True, status=response.status)

    client = otel.span("fetch_agent_card b1")
    served = otel.span(f"GET {CARD_PATH}")
    assert served.parent is not None
    assert served.parent.span_id == client.context.span_id
    assert served.context.trace_id == client.context.trace_id


def test_middlewares_given_run_after_the_trace_middleware() -> None:
    # create_app puts it first; middlewares given come after it, in their order.
    mine = incoming_trace_middleware()
    app = create_app(api_key=KEY, middlewares=[mine])
    assert len(app.middlewares) == 2
    assert app.middlewares[1] is mine
