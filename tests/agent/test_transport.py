"""AgentTransport against real HTTPS servers on 127.0.0.1 (trusted only through ``ca_bundle``)."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import tenacity
import trustme
import yarl
from aiohttp import web
from https_servers import closed_port, https_server, issue, json_handler, write_ca

from jamey_agent_orchestration import retries as retries_module
from jamey_agent_orchestration.api_key import ApiKey
from jamey_agent_orchestration.retries import FailureKind, RetryPolicy, parse_retry_after
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.transport import AgentTransport, Delivery

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
KEY = ApiKey("test-key-abc")
SEND_FAILED = "Failed to send task to agent: "


class Sleeps:
    """An injectable ``sleep`` that records the pauses asked for and does not wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


MakeTransport = Callable[..., Awaitable[AgentTransport]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def cert(ca: trustme.CA) -> trustme.LeafCert:
    return issue(ca)


@pytest.fixture
def ca_path(ca: trustme.CA, tmp_path: Path) -> Path:
    return write_ca(ca, tmp_path)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make_transport(ca_path: Path, sleeps: Sleeps) -> AsyncIterator[MakeTransport]:
    """Started transports trusting the test CA, loopback allowed, closed after the test."""
    made: list[AgentTransport] = []

    async def make(*, backoff: float = 0.001, **overrides: Any) -> AgentTransport:
        values: dict[str, Any] = {"ca_bundle": ca_path, "allow_networks": LOOPBACK, "timeout": 5.0}
        values.update(overrides)
        settings = AgentSettings(**values)
        policy = RetryPolicy(attempts=settings.retries, backoff_initial=backoff, sleep=sleeps)
        transport = AgentTransport(settings, retry_policy=policy)
        made.append(transport)
        await transport.start()
        return transport

    yield make
    for transport in made:
        await transport.close()


async def send(
    transport: AgentTransport,
    url: yarl.URL,
    *,
    key: ApiKey = KEY,
    idempotency_key: str = "idem-1",
    timeout: float | None = None,
) -> Delivery:
    return await transport.deliver(
        url=url,
        api_key=key,
        task="summarise",
        params={"lang": "en", "n": "3"},
        idempotency_key=idempotency_key,
        timeout=timeout,
    )


def sequence(*statuses: int, headers: dict[str, str] | None = None) -> Callable[..., Any]:
    """A handler answering each status in turn (empty JSON body for errors), then 200 JSON."""
    remaining = list(statuses)

    async def handle(request: web.Request) -> web.StreamResponse:
        if remaining:
            return web.json_response({}, status=remaining.pop(0), headers=headers)
        return web.json_response({"done": True})

    return handle


# -- wire format and success -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [("", "/api/v1/tasks"), ("/", "/api/v1/tasks"), ("/agent/", "/agent/api/v1/tasks")],
)
async def test_wire_format(
    make_transport: MakeTransport, cert: trustme.LeafCert, path: str, expected: str
) -> None:
    async with https_server(json_handler({"result": [1, 2]}), cert) as server:
        transport = await make_transport()
        delivery = await send(transport, server.url(path=path), idempotency_key="k-42")
    assert delivery == Delivery(
        ok=True, response={"result": [1, 2]}, text='{"result": [1, 2]}', status=200, attempts=1
    )
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", expected)
    assert request.headers["Authorization"] == "Bearer test-key-abc"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "k-42"
    assert "Cookie" not in request.headers
    assert json.loads(request.body) == {"task": "summarise", "params": {"lang": "en", "n": "3"}}


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_any_2xx_with_json_is_success(
    make_transport: MakeTransport, cert: trustme.LeafCert, status: int
) -> None:
    async with https_server(json_handler(["x", None], status=status), cert) as server:
        delivery = await send(await make_transport(), server.url())
    assert (delivery.ok, delivery.response, delivery.status) == (True, ["x", None], status)


async def test_cookies_are_never_sent_back(
    make_transport: MakeTransport, cert: trustme.LeafCert
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.json_response({})
        response.set_cookie("session", "agent-a-secret")
        return response

    async with https_server(handle, cert) as server:
        transport = await make_transport()
        await send(transport, server.url())
        await send(transport, server.url())
    assert [r.headers.get("Cookie") for r in server.requests] == [None, None]


# -- bad bodies -----------------------------------------------------------------------------------


async def test_non_json_body_is_refused_and_not_retried(
    make_transport: MakeTransport, cert: trustme.LeafCert
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hello</html>")

    async with https_server(handle, cert) as server:
        delivery = await send(await make_transport(), server.url())
    assert delivery.error == SEND_FAILED + "response is not JSON"
    assert (delivery.attempts, delivery.failure, len(server.requests)) == (
        1,
        FailureKind.BAD_RESPONSE,
        1,
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_not_json(
    make_transport: MakeTransport, cert: trustme.LeafCert, constant: str
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(text=f'{{"score": {constant}}}', content_type="application/json")

    async with https_server(handle, cert) as server:
        delivery = await send(await make_transport(), server.url())
    assert delivery.error == SEND_FAILED + "response is not JSON"
    assert delivery.failure is FailureKind.BAD_RESPONSE


async def test_a_name_that_does_not_resolve_counts_no_attempt(
    make_transport: MakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    delivery = await send(await make_transport(), yarl.URL("https://agent.example.test"))
    assert delivery.failure is FailureKind.CONNECTION
    assert delivery.error is not None
    assert delivery.error.startswith(SEND_FAILED + "cannot resolve host")
    assert delivery.attempts == 0  # nothing was dialled, so no request went anywhere


async def test_oversized_body_with_content_length(
    make_transport: MakeTransport, cert: trustme.LeafCert
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'"' + b"a" * 5000 + b'"', content_type="application/json")

    async with https_server(handle, cert) as server:
        delivery = await send(await make_transport(max_response_bytes=1000), server.url())
    assert delivery.error == SEND_FAILED + "response larger than 1000 bytes"
    assert (delivery.attempts, delivery.failure) == (1, FailureKind.BAD_RESPONSE)


async def test_oversized_streamed_body_stops_reading(
    make_transport: MakeTransport, cert: trustme.LeafCert
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

    async with https_server(handle, cert) as server:
        delivery = await send(await make_transport(max_response_bytes=100_000), server.url())
        await asyncio.sleep(0.05)
    assert delivery.error == SEND_FAILED + "response larger than 100000 bytes"
    assert written < 64 * 1024 * 1024


@pytest.mark.parametrize(("size", "ok"), [(900, True), (5_000_000, False)])
async def test_gzip_body_counts_decompressed_bytes(
    make_transport: MakeTransport, cert: trustme.LeafCert, size: int, ok: bool
) -> None:
    payload = gzip.compress(b'"' + b"0" * size + b'"')

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=payload,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    async with https_server(handle, cert) as server:
        delivery = await send(await make_transport(max_response_bytes=1000), server.url())
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
    make_transport: MakeTransport, cert: trustme.LeafCert, sleeps: Sleeps, status: int, kind: Any
) -> None:
    async with https_server(sequence(status, status, status), cert) as server:
        delivery = await send(await make_transport(), server.url())
    assert delivery == Delivery(
        ok=False,
        error=f"Agent returned error status: {status}",
        status=status,
        attempts=1,
        failure=kind,
    )
    assert (len(server.requests), sleeps.calls) == (1, [])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_never_followed(
    make_transport: MakeTransport, cert: trustme.LeafCert, status: int
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/elsewhere":
            return web.json_response({"followed": True})
        return web.Response(status=status, headers={"Location": "/elsewhere"})

    async with https_server(handle, cert) as server:
        delivery = await send(await make_transport(), server.url())
    assert delivery.error == f"Agent returned error status: {status}"
    assert (delivery.failure, delivery.attempts) == (FailureKind.REDIRECT, 1)
    assert [r.path for r in server.requests] == ["/api/v1/tasks"]


# -- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_status_then_success_keeps_idempotency_key(
    make_transport: MakeTransport, cert: trustme.LeafCert, sleeps: Sleeps, status: int
) -> None:
    async with https_server(sequence(status, status), cert) as server:
        delivery = await send(await make_transport(retries=3), server.url(), idempotency_key="same")
    assert delivery == Delivery(
        ok=True, response={"done": True}, text='{"done": true}', status=200, attempts=3
    )
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["same"] * 3
    assert len(sleeps.calls) == 2
    # Exponential with jitter: 0.001 * 2**(n-1) plus up to 0.001.
    assert 0.001 <= sleeps.calls[0] <= 0.002 <= sleeps.calls[1] <= 0.003


async def test_retries_stop_at_the_setting(
    make_transport: MakeTransport, cert: trustme.LeafCert
) -> None:
    async with https_server(sequence(*[503] * 10), cert) as server:
        delivery = await send(await make_transport(retries=4), server.url())
    assert delivery.error == "Agent returned error status: 503"
    assert (delivery.attempts, delivery.status, len(server.requests)) == (4, 503, 4)


async def test_retry_after_seconds_is_honoured_and_capped(
    make_transport: MakeTransport, cert: trustme.LeafCert, sleeps: Sleeps
) -> None:
    async with https_server(sequence(503, 429, headers={"Retry-After": "7"}), cert) as server:
        assert (await send(await make_transport(), server.url())).ok
    async with https_server(sequence(503, headers={"Retry-After": "86400"}), cert) as server:
        assert (await send(await make_transport(), server.url())).ok
    assert sleeps.calls == [7.0, 7.0, 30.0]


async def test_retry_after_http_date_is_honoured(
    make_transport: MakeTransport, cert: trustme.LeafCert, sleeps: Sleeps
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    async with https_server(sequence(503, headers={"Retry-After": when}), cert) as server:
        assert (await send(await make_transport(), server.url())).ok
    (pause,) = sleeps.calls
    assert 17.0 < pause <= 20.0


def test_parse_retry_after() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Tue, 01 Jan 2030 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Mon, 31 Dec 2029 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-5") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_timeout_applies_per_attempt(
    make_transport: MakeTransport, cert: trustme.LeafCert
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    async with https_server(slow, cert) as server:
        transport = await make_transport(retries=3)
        started = time.monotonic()
        delivery = await send(transport, server.url(), timeout=0.3)
        elapsed = time.monotonic() - started
    assert delivery.error == SEND_FAILED + "timed out after 0.3s"
    assert (delivery.failure, delivery.attempts, len(server.requests)) == (
        FailureKind.TIMEOUT,
        3,
        3,
    )
    assert 0.85 < elapsed < 1.6


async def test_connection_refused_is_retried(make_transport: MakeTransport, sleeps: Sleeps) -> None:
    transport = await make_transport(retries=3)
    delivery = await send(transport, yarl.URL(f"https://127.0.0.1:{closed_port()}"))
    assert delivery.error == SEND_FAILED + "connection refused"
    assert (delivery.failure, delivery.attempts, delivery.status) == (
        FailureKind.CONNECTION,
        3,
        None,
    )
    assert len(sleeps.calls) == 2


def test_first_success_does_not_enter_tenacity(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("AsyncRetrying built for a first-time success")

    monkeypatch.setattr(tenacity, "AsyncRetrying", forbidden)

    @attrs.frozen
    class Ok:
        retryable: bool = False
        retry_after: float | None = None

    async def attempt() -> Ok:
        return Ok()

    result = asyncio.run(retries_module.call_with_retries(attempt, RetryPolicy(attempts=3)))
    assert result == Ok()


def test_failure_kinds_for_the_breaker() -> None:
    health = {kind for kind in FailureKind if kind.counts_against_health}
    assert health == {
        FailureKind.CONNECTION,
        FailureKind.TIMEOUT,
        FailureKind.STATUS_5XX,
        FailureKind.TLS,
    }


# -- address checks at connect time ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_forbidden_address_refused_at_connect_time(
    make_transport: MakeTransport, cert: trustme.LeafCert, sleeps: Sleeps, host: str
) -> None:
    async with https_server(json_handler(), cert) as server:
        transport = await make_transport(allow_networks=())
        delivery = await send(transport, server.url(host))
    assert delivery.error is not None
    assert delivery.error.startswith("Security violation: ")
    assert "loopback" in delivery.error
    assert (delivery.failure, delivery.attempts, sleeps.calls) == (FailureKind.SECURITY, 0, [])
    assert server.requests == []


async def test_allow_networks_exempts_loopback_by_name(
    make_transport: MakeTransport, cert: trustme.LeafCert
) -> None:
    # localhost may resolve to ::1 first; only 127.0.0.0/8 is allowed, and the server listens there.
    async with https_server(json_handler(), cert) as server:
        transport = await make_transport(allow_networks=(LOOPBACK[0],))
        delivery = await send(transport, server.url("localhost"))
    assert (delivery.ok, len(server.requests)) == (True, 1)


async def test_refusals_do_not_leak_between_concurrent_deliveries(
    make_transport: MakeTransport, cert: trustme.LeafCert
) -> None:
    async with https_server(json_handler(), cert) as server:
        transport = await make_transport(allow_networks=(LOOPBACK[0],))
        refused, fine = await asyncio.gather(
            send(transport, server.url("[::1]")), send(transport, server.url())
        )
    assert refused.failure is FailureKind.SECURITY
    assert refused.error == "Security violation: connection to ::1 refused (loopback address)"
    assert (fine.ok, len(server.requests)) == (True, 1)


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("inf")])
async def test_nonsense_timeout_is_a_programming_error(
    make_transport: MakeTransport, timeout: float
) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await send(await make_transport(), yarl.URL("https://example.com"), timeout=timeout)


async def test_plain_http_is_refused(make_transport: MakeTransport) -> None:
    delivery = await send(await make_transport(), yarl.URL("http://127.0.0.1:1/"))
    assert delivery.error == "Security violation: Agent URLs must use HTTPS. Got: http"
    assert (delivery.failure, delivery.attempts) == (FailureKind.SECURITY, 0)


# -- lifecycle and secrets ------------------------------------------------------------------------


async def test_lifecycle(ca_path: Path) -> None:
    transport = AgentTransport(AgentSettings(ca_bundle=ca_path))
    with pytest.raises(RuntimeError, match="start"):
        await send(transport, yarl.URL("https://example.com"))
    await asyncio.gather(transport.start(), transport.start())
    await transport.close()
    await transport.close()
    with pytest.raises(RuntimeError):
        await transport.start()


async def test_canary_key_never_leaks(
    make_transport: MakeTransport,
    cert: trustme.LeafCert,
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
    async with https_server(handle, cert) as server:
        transport = await make_transport(retries=2, max_response_bytes=100)
        for mode in ["ok", "401", "503", "302", "slow", "drop", "garbage"]:
            deliveries.append(
                await send(transport, server.url(), key=key, idempotency_key=mode, timeout=0.2)
            )
        refused = await make_transport(allow_networks=())
        deliveries.append(await send(refused, server.url(), key=key))
        deliveries.append(await send(transport, yarl.URL(f"https://127.0.0.1:{closed_port()}")))
    async with https_server(handle, issue(trustme.CA())) as untrusted:
        deliveries.append(await send(transport, untrusted.url(), key=key))
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
    assert all(r.headers["Authorization"] == f"Bearer {canary}" for r in server.requests)
