"""The reference agent server and the ``jamey_agent_server`` fixture, over real verified HTTPS."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from jamey_agent_orchestration.testing import AgentServerFactory
from jamey_agent_orchestration.testing.agents import RecordingAgent, ThrowawayCA, start_test_agent
from jamey_agent_orchestration.testing.server import (
    EXAMPLE_HANDLERS,
    AgentServer,
    TaskError,
    TaskRequest,
    create_app,
    main,
)

TASKS = "/api/v1/tasks"


def client_context(ca_path: object) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(str(ca_path))
    return context


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def post(
    session: aiohttp.ClientSession,
    agent: RecordingAgent,
    body: Any,
    *,
    key: str | None = None,
    idempotency_key: str | None = None,
    raw: bytes | None = None,
    client_timeout: float | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {agent.api_key if key is None else key}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    data = raw if raw is not None else json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    extra: dict[str, Any] = {}
    if client_timeout is not None:
        extra["timeout"] = aiohttp.ClientTimeout(total=client_timeout)
    async with session.post(
        agent.url + TASKS,
        data=data,
        headers=headers,
        ssl=client_context(agent.ca_path),
        allow_redirects=False,
        **extra,
    ) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


class Counter:
    def __init__(self) -> None:
        self.calls: list[TaskRequest] = []

    def __call__(self, request: TaskRequest) -> dict[str, Any]:
        self.calls.append(request)
        return {"sum": sum(int(v) for v in request.params.values()), "n": len(self.calls)}


async def test_fixture_gives_a_verified_https_agent(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server(name="a1")
    assert agent.url.startswith("https://127.0.0.1:")
    assert agent.ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert len(agent.api_key) >= 32
    assert await post(session, agent, {"task": "health_check", "params": {}}) == (
        200,
        {"status": "healthy", "agent": "a1"},
    )


async def test_verification_stays_on_without_the_ca(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server()
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await session.post(agent.url + TASKS, json={}, ssl=ssl.create_default_context())


async def test_wrong_or_missing_key_is_401_and_runs_nothing(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    counter = Counter()
    agent = await jamey_agent_server(handlers={"sum": counter}, api_key="the-right-key")
    assert agent.api_key == "the-right-key"
    body = {"task": "sum", "params": {"a": "1"}}
    for key in ("the-wrong-key", "the-right-key-", "", "THE-RIGHT-KEY"):
        status, answer = await post(session, agent, body, key=key)
        assert (status, answer) == (401, {"error": "Unauthorized"})
    async with session.post(
        agent.url + TASKS, json=body, ssl=client_context(agent.ca_path)
    ) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert counter.calls == []


async def test_handlers_sync_and_async(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    async def slow_upper(request: TaskRequest) -> dict[str, str]:
        await asyncio.sleep(0)
        return {k: v.upper() for k, v in request.params.items()}

    agent = await jamey_agent_server(handlers={"sum": Counter(), "upper": slow_upper})
    assert await post(session, agent, {"task": "sum", "params": {"a": "2", "b": "3"}}) == (
        200,
        {"sum": 5, "n": 1},
    )
    assert await post(session, agent, {"task": "upper", "params": {"x": "hé"}}) == (
        200,
        {"x": "HÉ"},
    )
    # params may be left out
    assert await post(session, agent, {"task": "sum"}) == (200, {"sum": 0, "n": 2})


async def test_unknown_task_is_404(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server()
    assert await post(session, agent, {"task": "nope", "params": {}}) == (
        404,
        {"error": "Unknown task: nope"},
    )


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{not json", "Invalid JSON body"),
        (b"\xff\xfe", "Invalid JSON body"),
        (b"[1, 2]", "Body must be a JSON object"),
        (b'{"params": {}}', "Missing task"),
        (b'{"task": "", "params": {}}', "Missing task"),
        (b'{"task": 3, "params": {}}', "Missing task"),
        (b'{"task": "echo", "params": {"a": 1}}', "params must be an object of strings"),
        (b'{"task": "echo", "params": ["a"]}', "params must be an object of strings"),
    ],
)
async def test_bad_body_is_400(
    jamey_agent_server: AgentServerFactory,
    session: aiohttp.ClientSession,
    raw: bytes,
    error: str,
) -> None:
    agent = await jamey_agent_server(handlers=EXAMPLE_HANDLERS)
    assert await post(session, agent, None, raw=raw) == (400, {"error": error})


async def test_example_handlers(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server(handlers=EXAMPLE_HANDLERS)
    params = {"a": "1", "b": "two"}
    assert await post(session, agent, {"task": "echo", "params": params}) == (200, params)
    assert await post(session, agent, {"task": "uppercase", "params": {"text": "hi"}}) == (
        200,
        {"text": "HI"},
    )
    assert await post(session, agent, {"task": "uppercase", "params": {}}) == (
        400,
        {"error": "Missing param: text"},
    )


async def test_idempotency_key_replays_the_first_answer(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    counter = Counter()
    agent = await jamey_agent_server(handlers={"sum": counter})
    body = {"task": "sum", "params": {"a": "1"}}
    first = await post(session, agent, body, idempotency_key="k-1")
    again = await post(session, agent, body, idempotency_key="k-1")
    assert first == again == (200, {"sum": 1, "n": 1})
    assert len(counter.calls) == 1
    assert counter.calls[0].idempotency_key == "k-1"
    assert await post(session, agent, body, idempotency_key="k-2") == (200, {"sum": 1, "n": 2})
    assert await post(session, agent, body) == (200, {"sum": 1, "n": 3})
    assert await post(session, agent, body) == (200, {"sum": 1, "n": 4})
    # an unauthenticated request never reads the cache
    assert (await post(session, agent, body, key="bad", idempotency_key="k-1"))[0] == 401


async def test_concurrent_requests_with_one_key_run_the_handler_once(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    calls = 0
    release = asyncio.Event()

    async def slow(request: TaskRequest) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"calls": calls}

    agent = await jamey_agent_server(handlers={"slow": slow})
    body = {"task": "slow", "params": {}}
    pending = [
        asyncio.create_task(post(session, agent, body, idempotency_key="same")) for _ in range(5)
    ]
    for _ in range(500):  # until all five reached the agent
        if len(agent.requests) == 5:
            break
        await asyncio.sleep(0.01)
    release.set()
    answers = await asyncio.gather(*pending)
    assert answers == [(200, {"calls": 1})] * 5
    assert calls == 1


async def test_handler_crash_is_500_and_not_cached(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    attempts = 0

    def flaky(request: TaskRequest) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("boom")
        return "ok"

    def refuses(request: TaskRequest) -> str:
        raise TaskError("no way", status=422)

    agent = await jamey_agent_server(handlers={"flaky": flaky, "refuses": refuses})
    body = {"task": "flaky", "params": {}}
    assert await post(session, agent, body, idempotency_key="k") == (
        500,
        {"error": "Task failed: flaky"},
    )
    assert await post(session, agent, body, idempotency_key="k") == (200, "ok")
    assert await post(session, agent, body, idempotency_key="k") == (200, "ok")
    assert attempts == 2
    assert await post(session, agent, {"task": "refuses"}) == (422, {"error": "no way"})


async def test_requests_are_recorded(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server(handlers=EXAMPLE_HANDLERS)
    await post(session, agent, {"task": "echo", "params": {"x": "1"}}, idempotency_key="i-1")
    await post(session, agent, None, raw=b"plain text", key="wrong")
    first, second = agent.requests
    assert (first.method, first.path) == ("POST", TASKS)
    assert first.headers["authorization"] == f"Bearer {agent.api_key}"
    assert first.headers["Content-Type"] == "application/json"
    assert first.body == {"task": "echo", "params": {"x": "1"}}
    assert first.idempotency_key == "i-1"
    assert second.body == "plain text"
    assert second.idempotency_key is None
    assert agent.api_key not in repr(first)
    assert agent.api_key not in repr(agent)


async def test_fail_next_then_recover(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server()
    agent.fail_next(503, times=2, headers={"Retry-After": "1"})
    body = {"task": "health_check", "params": {}}
    for _ in range(2):
        async with session.post(
            agent.url + TASKS,
            json=body,
            headers={"Authorization": f"Bearer {agent.api_key}"},
            ssl=client_context(agent.ca_path),
        ) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
            assert await response.json() == {"error": "Injected failure 503"}
    assert (await post(session, agent, body))[0] == 200
    assert len(agent.requests) == 3


async def test_respond_with_raw_body_until_reset(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server()
    agent.respond_with(200, b"<html>not json</html>", content_type="text/html")
    body = {"task": "health_check", "params": {}}
    for _ in range(2):
        assert await post(session, agent, body) == (200, "<html>not json</html>")
    agent.fail_next(429)  # a queued behaviour goes before the standing one
    assert (await post(session, agent, body))[0] == 429
    assert (await post(session, agent, body))[0] == 200
    agent.reset()
    assert await post(session, agent, body) == (200, {"status": "healthy", "agent": "agent"})


async def test_huge_body(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server()
    agent.respond_with(body=b'"' + b"x" * 3_000_000 + b'"', times=1)
    status, answer = await post(session, agent, {"task": "health_check"})
    assert status == 200
    assert len(answer) == 3_000_000


async def test_redirect_to(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    agent = await jamey_agent_server()
    other = await jamey_agent_server(name="other")
    agent.redirect_to(other.url + TASKS, status=307)
    async with session.post(
        agent.url + TASKS,
        json={"task": "health_check"},
        headers={"Authorization": f"Bearer {agent.api_key}"},
        ssl=client_context(agent.ca_path),
        allow_redirects=False,
    ) as response:
        assert response.status == 307
        assert response.headers["Location"] == other.url + TASKS
    assert other.requests == []


async def test_delay_makes_a_hung_agent(
    jamey_agent_server: AgentServerFactory, session: aiohttp.ClientSession
) -> None:
    counter = Counter()
    agent = await jamey_agent_server(handlers={"sum": counter}, delay=30)
    with pytest.raises(asyncio.TimeoutError):
        await post(session, agent, {"task": "sum"}, client_timeout=0.3)
    assert len(agent.requests) == 1
    assert counter.calls == []
    agent.delay = 0
    assert await post(session, agent, {"task": "sum"}) == (200, {"sum": 0, "n": 1})


async def test_agents_of_one_test_share_the_ca_and_cover_localhost(
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    session: aiohttp.ClientSession,
) -> None:
    first = await jamey_agent_server(name="one")
    second = await jamey_agent_server(name="two")
    assert first.ca_path == second.ca_path == jamey_agent_ca.ca_path
    assert first.url != second.url
    assert first.api_key != second.api_key
    port = second.url.rsplit(":", 1)[1]
    async with session.post(
        f"https://localhost:{port}{TASKS}",
        json={"task": "health_check"},
        headers={"Authorization": f"Bearer {second.api_key}"},
        ssl=client_context(first.ca_path),
    ) as response:
        assert await response.json() == {"status": "healthy", "agent": "two"}


async def test_without_the_fixture(session: aiohttp.ClientSession) -> None:
    with ThrowawayCA() as ca:
        async with await start_test_agent(ca, name="solo") as agent:
            assert await post(session, agent, {"task": "health_check"}) == (
                200,
                {"status": "healthy", "agent": "solo"},
            )
        app = create_app(api_key="k" * 20, name="plain", cache_size=1)
        async with AgentServer(app, ssl_context=ca.server_context(), shutdown_timeout=0.5) as srv:
            async with session.post(
                srv.url + TASKS,
                json={"task": "health_check"},
                headers={"Authorization": "Bearer " + "k" * 20},
                ssl=ca.client_context(),
            ) as response:
                assert await response.json() == {"status": "healthy", "agent": "plain"}
            async with session.get(srv.url + TASKS, ssl=ca.client_context()) as response:
                assert response.status == 405
        ca_path = ca.ca_path
    assert not ca_path.exists()


async def test_idempotency_cache_is_bounded(session: aiohttp.ClientSession) -> None:
    counter = Counter()
    key = "k" * 20
    with ThrowawayCA() as ca:
        app = create_app(api_key=key, handlers={"sum": counter}, cache_size=2)
        async with AgentServer(app, ssl_context=ca.server_context(), shutdown_timeout=0.5) as srv:

            async def call(idempotency_key: str) -> Any:
                async with session.post(
                    srv.url + TASKS,
                    json={"task": "sum"},
                    headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key},
                    ssl=client_context(ca.ca_path),
                ) as response:
                    return (await response.json())["n"]

            assert [await call(k) for k in ("a", "b", "a", "c", "a", "b")] == [1, 2, 1, 3, 1, 4]


def test_create_app_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        create_app(api_key="")


def test_cli_needs_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JAMEY_AGENT_API_KEY", raising=False)
    assert main(["--cert", "c.pem", "--key", "k.pem"]) == 2
    assert "JAMEY_AGENT_API_KEY" in capsys.readouterr().err
    monkeypatch.setenv("JAMEY_AGENT_API_KEY", "secret-key-value")
    assert main(["--cert", "/nonexistent/c.pem", "--key", "/nonexistent/k.pem"]) == 2
    err = capsys.readouterr().err
    assert "cannot load certificate" in err
    assert "secret-key-value" not in err
    with pytest.raises(SystemExit) as exc_info:
        main(["--help"])
    assert exc_info.value.code == 0
    assert "--cert" in capsys.readouterr().out
