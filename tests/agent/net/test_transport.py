"""The jamey protocol's client and its transport against real HTTPS agents on 127.0.0.1.

The agents come from ``jamey_agent_server`` (trusted only through ``ca_bundle``); ``serve_with``
makes one answer as a misbehaving agent would.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from jamey_agent_orchestration.model import ApiKey
from jamey_agent_orchestration.net.client import Delivery, FailureKind
from jamey_agent_orchestration.net.jamey import JameyClient
from jamey_agent_orchestration.net.request import RequestSender
from jamey_agent_orchestration.net.retry import RetryPolicy
from jamey_agent_orchestration.net.transport import Transport
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.testing import AgentServerFactory, RecordingAgent, ThrowawayCA

from .clients import KEY, LOOPBACK, SEND_FAILED, MakeClient, Sleeps, send
from .servers import closed_port, json_answer, statuses


async def misbehaving(factory: AgentServerFactory, handler: Any) -> RecordingAgent:
    agent = await factory(api_key=KEY.reveal())
    agent.serve_with(handler)
    return agent


def at(agent: RecordingAgent, host: str = "127.0.0.1", path: str = "") -> str:
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{agent.port}{path}"


# -- wire format and success -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [("", "/api/v1/tasks"), ("/", "/api/v1/tasks"), ("/agent/", "/agent/api/v1/tasks")],
)
async def test_wire_format(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, path: str, expected: str
) -> None:
    agent = await misbehaving(jamey_agent_server, json_answer({"result": [1, 2]}))
    delivery = await send(await make_client(), at(agent, path=path), idempotency_key="k-42")
    assert delivery == Delivery(
        ok=True, response={"result": [1, 2]}, text='{"result": [1, 2]}', status=200, attempts=1
    )
    (request,) = agent.requests
    assert (request.method, request.path) == ("POST", expected)
    assert request.headers["Authorization"] == "Bearer test-key-abc"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "k-42"
    assert "Cookie" not in request.headers
    assert request.body == {"task": "summarise", "params": {"lang": "en", "n": "3"}}


async def test_the_reference_agent_answers_through_the_client(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers={"summarise": lambda r: dict(r.params)})
    key = ApiKey(agent.api_key)
    delivery = await send(await make_client(), agent.url, key=key)
    assert (delivery.ok, delivery.response, delivery.attempts) == (
        True,
        {"lang": "en", "n": "3"},
        1,
    )


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_any_2xx_with_json_is_success(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, status: int
) -> None:
    agent = await misbehaving(jamey_agent_server, json_answer(["x", None], status=status))
    delivery = await send(await make_client(), agent.url)
    assert (delivery.ok, delivery.response, delivery.status) == (True, ["x", None], status)


async def test_cookies_are_never_sent_back(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.json_response({})
        response.set_cookie("session", "agent-a-secret")
        return response

    agent = await misbehaving(jamey_agent_server, handle)
    client = await make_client()
    await send(client, agent.url)
    await send(client, agent.url)
    assert [r.headers.get("Cookie") for r in agent.requests] == [None, None]


# -- bad bodies -----------------------------------------------------------------------------------


async def test_non_json_body_is_refused_and_not_retried(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hello</html>")

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(), agent.url)
    assert delivery.error == SEND_FAILED + "response is not JSON"
    assert (delivery.attempts, delivery.failure, len(agent.requests)) == (
        1,
        FailureKind.BAD_RESPONSE,
        1,
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1.5E+999"])
async def test_nan_and_infinity_are_not_json(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, constant: str
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(text=f'{{"score": {constant}}}', content_type="application/json")

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(), agent.url)
    assert delivery.error == SEND_FAILED + "response is not JSON"
    assert delivery.failure is FailureKind.BAD_RESPONSE


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"text": "\\ud83d"}', "a JavaScript agent that cut a string inside an emoji"),
        ('{"n": ' + "9" * 400 + "}", "an integer no double can hold, which Python's int can"),
    ],
)
async def test_json_that_orjson_does_not_read_is_still_an_answer(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, body: str, reason: str
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, content_type="application/json")

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(), agent.url)
    assert delivery.ok, (reason, delivery.error)
    assert delivery.text == body  # the agent's own text, as it is


async def test_a_key_spanning_the_status_and_the_agents_message_is_scrubbed(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    # A key stored before registration refused spaces and colons: "500: x" spans the join of
    # "Agent returned error status: 500" and the agent's ": xyz".
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "xyz"}, status=500)

    agent = await misbehaving(jamey_agent_server, handle)
    client = await make_client(retries=1)
    delivery = await send(client, agent.url, key=ApiKey("500: x"))
    assert delivery.error == "Agent returned error status: ***yz"


async def test_a_name_that_does_not_resolve_counts_no_attempt(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    delivery = await send(await make_client(), "https://agent.example.test")
    assert delivery.failure is FailureKind.CONNECTION
    assert delivery.error is not None
    assert delivery.error.startswith(SEND_FAILED + "cannot resolve host")
    assert delivery.attempts == 0  # nothing was dialled, so no request went anywhere


async def test_oversized_body_with_content_length(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'"' + b"a" * 5000 + b'"', content_type="application/json")

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(max_response_bytes=1000), agent.url)
    assert delivery.error == SEND_FAILED + "response larger than 1000 bytes"
    assert (delivery.attempts, delivery.failure) == (1, FailureKind.BAD_RESPONSE)


async def test_oversized_streamed_body_stops_reading(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    written = 0

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(4000):  # 256 MiB if the client read it all
                await response.write(b" " * 65536)
                written += 65536
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(max_response_bytes=100_000), agent.url)
    await asyncio.sleep(0.05)
    assert delivery.error == SEND_FAILED + "response larger than 100000 bytes"
    assert written < 64 * 1024 * 1024


@pytest.mark.parametrize(("size", "ok"), [(900, True), (5_000_000, False)])
async def test_gzip_body_counts_decompressed_bytes(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, size: int, ok: bool
) -> None:
    payload = gzip.compress(b'"' + b"0" * size + b'"')

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=payload,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(max_response_bytes=1000), agent.url)
    assert len(payload) < 1000 * 10  # the bomb is small on the wire
    if ok:
        assert delivery.response == "0" * size
    else:
        assert delivery.error == SEND_FAILED + "response larger than 1000 bytes"


# -- statuses and redirects -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, FailureKind.STATUS_4XX),
        (401, FailureKind.STATUS_4XX),
        (403, FailureKind.STATUS_4XX),
        (404, FailureKind.STATUS_4XX),
        (500, FailureKind.STATUS_5XX),
        (501, FailureKind.STATUS_5XX),
    ],
)
async def test_error_status_is_not_retried(
    make_client: MakeClient,
    jamey_agent_server: AgentServerFactory,
    sleeps: Sleeps,
    status: int,
    kind: Any,
) -> None:
    agent = await misbehaving(jamey_agent_server, statuses(status, status, status))
    delivery = await send(await make_client(), agent.url)
    assert delivery == Delivery(
        ok=False,
        error=f"Agent returned error status: {status}",
        status=status,
        attempts=1,
        failure=kind,
    )
    assert (len(agent.requests), sleeps.calls) == (1, [])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_never_followed(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, status: int
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/elsewhere":
            return web.json_response({"followed": True})
        return web.Response(status=status, headers={"Location": "/elsewhere"})

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(), agent.url)
    assert delivery.error == f"Agent returned error status: {status}"
    assert (delivery.failure, delivery.attempts) == (FailureKind.REDIRECT, 1)
    assert [r.path for r in agent.requests] == ["/api/v1/tasks"]


# -- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_status_then_success_keeps_idempotency_key(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, sleeps: Sleeps, status: int
) -> None:
    agent = await misbehaving(jamey_agent_server, statuses(status, status))
    delivery = await send(await make_client(retries=3), agent.url, idempotency_key="same")
    assert delivery == Delivery(
        ok=True, response={"done": True}, text='{"done": true}', status=200, attempts=3
    )
    assert [r.headers["Idempotency-Key"] for r in agent.requests] == ["same"] * 3
    assert len(sleeps.calls) == 2
    # Exponential with jitter: 0.001 * 2**(n-1) plus up to 0.001.
    assert 0.001 <= sleeps.calls[0] <= 0.002 <= sleeps.calls[1] <= 0.003


async def test_retries_stop_at_the_setting(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await misbehaving(jamey_agent_server, statuses(*[503] * 10))
    delivery = await send(await make_client(retries=4), agent.url)
    assert delivery.error == "Agent returned error status: 503"
    assert (delivery.attempts, delivery.status, len(agent.requests)) == (4, 503, 4)


async def test_retry_after_seconds_is_honoured_within_the_call_budget(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, sleeps: Sleeps
) -> None:
    # timeout 10 s, 3 attempts: a budget of 30 s and the backoff; two waits of 7 s fit.
    agent = await misbehaving(jamey_agent_server, statuses(503, 429, headers={"Retry-After": "7"}))
    assert (await send(await make_client(timeout=10.0), agent.url)).ok
    assert sleeps.calls == [7.0, 7.0]


async def test_a_retry_after_past_the_call_budget_ends_the_call(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, sleeps: Sleeps
) -> None:
    agent = await misbehaving(jamey_agent_server, statuses(503, headers={"Retry-After": "86400"}))
    delivery = await send(await make_client(timeout=5.0), agent.url)
    assert not delivery.ok
    assert delivery.error is not None
    assert delivery.error.startswith("Agent returned error status: 503 (the agent asked to retry")
    assert "86400s" in delivery.error
    assert "budget of 15.005s" in delivery.error  # 3 x 5 s, plus 2 ms and 3 ms of backoff
    assert (delivery.attempts, len(agent.requests), sleeps.calls) == (1, 1, [])


async def test_retry_after_http_date_is_honoured(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, sleeps: Sleeps
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    agent = await misbehaving(jamey_agent_server, statuses(503, headers={"Retry-After": when}))
    assert (await send(await make_client(timeout=10.0), agent.url)).ok
    (pause,) = sleeps.calls
    assert 17.0 < pause <= 20.0


async def test_timeout_applies_per_attempt(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    agent = await misbehaving(jamey_agent_server, slow)
    client = await make_client(retries=3, timeout=0.3)
    started = time.monotonic()
    delivery = await send(client, agent.url)
    elapsed = time.monotonic() - started
    assert delivery.error == SEND_FAILED + "timed out after 0.3s"
    assert (delivery.failure, delivery.attempts, len(agent.requests)) == (
        FailureKind.TIMEOUT,
        3,
        3,
    )
    assert 0.85 < elapsed < 1.6


async def test_connection_refused_is_retried(make_client: MakeClient, sleeps: Sleeps) -> None:
    client = await make_client(retries=3)
    delivery = await send(client, f"https://127.0.0.1:{closed_port()}")
    assert delivery.error == SEND_FAILED + "connection refused"
    assert (delivery.failure, delivery.attempts, delivery.status) == (
        FailureKind.CONNECTION,
        3,
        None,
    )
    assert len(sleeps.calls) == 2


async def test_the_last_status_seen_is_kept_when_a_later_try_has_none(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    answered: list[int] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        if not answered:
            answered.append(503)
            return web.json_response({}, status=503)
        assert request.transport is not None
        request.transport.abort()  # the retry gets no answer at all
        return web.json_response({})

    agent = await misbehaving(jamey_agent_server, handle)
    delivery = await send(await make_client(retries=2), agent.url)
    assert delivery.failure is FailureKind.CONNECTION
    assert (delivery.status, delivery.attempts, len(agent.requests)) == (503, 2, 2)


# -- address checks at connect time ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_forbidden_address_refused_at_connect_time(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, sleeps: Sleeps, host: str
) -> None:
    agent = await misbehaving(jamey_agent_server, json_answer())
    delivery = await send(await make_client(allow_networks=()), at(agent, host))
    assert delivery.error is not None
    assert delivery.error.startswith("Security violation: ")
    assert "loopback" in delivery.error
    assert (delivery.failure, delivery.attempts, sleeps.calls) == (FailureKind.SECURITY, 0, [])
    assert agent.requests == []


async def test_port_zero_is_refused_at_connect_time(make_client: MakeClient) -> None:
    delivery = await send(await make_client(), "https://127.0.0.1:0")
    assert delivery.error == (
        "Security violation: connection to port 0 refused (not a port 1-65535)"
    )
    assert (delivery.failure, delivery.attempts) == (FailureKind.SECURITY, 0)


async def test_allow_networks_exempts_loopback_by_name(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    # localhost may resolve to ::1 first; only 127.0.0.0/8 is allowed, and the agent listens there.
    agent = await misbehaving(jamey_agent_server, json_answer())
    delivery = await send(await make_client(allow_networks=(LOOPBACK[0],)), at(agent, "localhost"))
    assert (delivery.ok, len(agent.requests)) == (True, 1)


async def test_refusals_do_not_leak_between_concurrent_deliveries(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await misbehaving(jamey_agent_server, json_answer())
    client = await make_client(allow_networks=(LOOPBACK[0],))
    refused, fine = await asyncio.gather(send(client, at(agent, "::1")), send(client, agent.url))
    assert refused.failure is FailureKind.SECURITY
    assert refused.error == "Security violation: connection to ::1 refused (loopback address)"
    assert (fine.ok, len(agent.requests)) == (True, 1)


async def test_plain_http_is_refused(make_client: MakeClient) -> None:
    delivery = await send(await make_client(), "http://127.0.0.1:1/")
    assert delivery.error == "Security violation: Agent URLs must use HTTPS. Got: http"
    assert (delivery.failure, delivery.attempts) == (FailureKind.SECURITY, 0)


# -- lifecycle and secrets ------------------------------------------------------------------------


async def test_lifecycle(jamey_agent_ca: ThrowawayCA) -> None:
    transport = Transport(AgentSettings(ca_bundle=jamey_agent_ca.ca_path))
    sender = RequestSender(transport, RetryPolicy(attempts=1, timeout=5.0))
    client = JameyClient(sender, max_response_bytes=100)
    with pytest.raises(RuntimeError, match="start"):
        await send(client, "https://example.com")
    await asyncio.gather(transport.start(), transport.start())
    await transport.close()
    await transport.close()
    with pytest.raises(RuntimeError):
        await transport.start()


async def test_canary_key_never_leaks_from_the_client(
    make_client: MakeClient,
    jamey_agent_server: AgentServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = "CANARY-KEY-0123456789"
    caplog.set_level(logging.DEBUG)
    key = ApiKey(canary)

    async def handle(request: web.Request) -> web.StreamResponse:
        mode = request.headers["Idempotency-Key"]
        if mode == "ok":
            return web.json_response({"seen": "fine"})
        if mode == "slow":
            await asyncio.sleep(2)
        if mode == "drop":
            assert request.transport is not None
            request.transport.abort()
        if mode == "garbage":
            return web.Response(text="not json")
        return web.json_response({}, status=int(mode) if mode.isdigit() else 500)

    deliveries: list[Delivery] = []
    agent = await misbehaving(jamey_agent_server, handle)
    client = await make_client(retries=2, max_response_bytes=100, timeout=0.2)
    for mode in ["ok", "401", "503", "302", "slow", "drop", "garbage"]:
        deliveries.append(await send(client, agent.url, key=key, idempotency_key=mode))
    refused = await make_client(allow_networks=())
    deliveries.append(await send(refused, agent.url, key=key))
    deliveries.append(await send(client, f"https://127.0.0.1:{closed_port()}", key=key))
    with ThrowawayCA() as other_ca:
        untrusted = await jamey_agent_server(ssl_context=other_ca.server_context())
        untrusted.serve_with(handle)
        deliveries.append(await send(client, untrusted.url, key=key))
    assert deliveries[0].ok
    assert caplog.records  # failures were logged, so the check below means something
    assert all(not d.ok for d in deliveries[1:])
    for delivery in deliveries:
        assert canary not in repr(delivery)
        assert canary not in str(delivery.error)
    for record in caplog.records:
        assert canary not in record.getMessage()
        assert canary not in repr(record.args)
        assert record.exc_info is None or canary not in repr(record.exc_info[1])
    assert agent.requests
    assert all(r.headers["Authorization"] == f"Bearer {canary}" for r in agent.requests)
