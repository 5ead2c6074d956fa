"""The A2A paths under the same rules as every request (issue 11 item 7): the card fetch and the
interface it names pass the address policy, TLS, the size limit and the no-redirect rule, and a
hostile card or answer is refused with a message that says what was wrong, storing nothing."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from jamey_agent_orchestration.testing.server import TaskRequest

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory, RecordingAgent

    from ..connector import Connector, MakeConnector

CARD_PATH = "/.well-known/agent-card.json"
REBOUND_HOST = "a2a.example.test"


def echo(request: TaskRequest) -> dict[str, Any]:
    return {"task": request.task}


def card(*interfaces: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": "Crafted", "supportedInterfaces": list(interfaces), "skills": [], **extra}


def interface(url: str, binding: str = "JSONRPC", version: str = "1.0") -> dict[str, str]:
    return {"url": url, "protocolBinding": binding, "protocolVersion": version}


async def serving(factory: AgentServerFactory, document: Any, **kwargs: Any) -> RecordingAgent:
    """An agent whose card is ``document`` (any JSON, or bytes sent as they are)."""
    agent = await factory(handlers={"echo": echo}, protocol="a2a", **kwargs)
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    agent.respond_with(200, body, times=1)
    return agent


def resolve(monkeypatch: pytest.MonkeyPatch, host: str, address: str) -> None:
    """Make ``host`` resolve to ``address`` on the running loop."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            infos = await real(address, port, *args, **kwargs)
            return [info for info in infos if info[0] == socket.AF_INET]
        return await real(name, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


async def refused(connector: Connector, agent: RecordingAgent | str) -> str:
    """Register ``agent`` over A2A; it must fail, store nothing, and be audited as refused."""
    result = await connector.register_a2a("crafted", agent, api_key="k-123")
    assert not result.success
    assert await connector.listed() == []
    [event] = connector.named("agent.register_refused")
    assert event.error == result.errors[0]
    return result.errors[0]


# -- the interface the card names -------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.2",
        "10.0.0.7",
        "192.168.1.1",
        "169.254.169.254",
        "[::1]",
        "[::ffff:10.0.0.1]",
        "[fe80::1]",
        "0x7f000001",
    ],
)
async def test_a_card_pointing_to_a_private_or_loopback_interface_is_refused(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory, host: str
) -> None:
    # Only the agent's own address is exempt: the card must not lead anywhere else private.
    connector = await make_connector(allow_networks="127.0.0.1/32")
    agent = await serving(jamey_agent_server, card(interface(f"https://{host}:8443/a2a")))
    error = await refused(connector, agent)
    assert error.startswith("Security violation:"), error
    [event] = connector.named("agent.register_refused")
    assert event.outcome == "denied"
    assert len(agent.requests) == 1  # the card fetch; the interface was never dialled


async def test_a_plain_http_interface_is_refused_and_the_next_one_not_tried(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(protocol="a2a")
    good = f"{agent.url}/a2a/jsonrpc"
    agent.respond_with(
        200,
        json.dumps(card(interface(good.replace("https", "http")), interface(good))),
        times=1,
    )
    assert await refused(connector, agent) == (
        "Security violation: Agent URLs must use HTTPS. Got: http"
    )


async def test_unsupported_interfaces_are_passed_over_in_card_order(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers={"echo": echo}, protocol="a2a")
    good = f"{agent.url}/a2a/jsonrpc"
    document = card(
        interface("https://10.0.0.1/grpc", binding="GRPC"),
        interface("https://10.0.0.1/old", version="0.3"),
        interface(good),
    )
    agent.respond_with(200, json.dumps(document), times=1)
    result = await connector.register_a2a("crafted", agent)
    assert result.success, result.errors
    assert (await connector.call("send_task", agent_id="crafted", task="echo")).success


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            card(interface("https://agent.example/a2a", version="0.3")),
            "Invalid agent card: no supported interface (JSONRPC or HTTP+JSON, version 1.x)",
        ),
        (b"<html>not a card</html>", "Invalid agent card: the document is not JSON"),
        ({"name": "No interfaces"}, "Invalid agent card: supportedInterfaces is missing"),
        (
            {"name": "Old", "url": "https://agent.example/"},
            "Invalid agent card: supportedInterfaces is missing (an A2A v0.3 card?)",
        ),
        (
            {"name": "X", "supportedInterfaces": [{"protocolBinding": "JSONRPC"}]},
            "Invalid agent card: supportedInterfaces[0].url is missing",
        ),
        ([1, 2, 3], "Invalid agent card: the document must be an object"),
    ],
)
async def test_an_invalid_card_is_refused_naming_what_is_wrong(
    connector: Connector, jamey_agent_server: AgentServerFactory, document: Any, error: str
) -> None:
    agent = await serving(jamey_agent_server, document)
    assert await refused(connector, agent) == error
    [event] = connector.named("agent.register_refused")
    assert event.outcome == "failure"


async def test_an_interface_on_another_origin_is_registered_with_a_warning(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(handlers={"echo": echo}, protocol="a2a")
    other = await jamey_agent_server(handlers={"echo": echo}, protocol="a2a", api_key=agent.api_key)
    agent.respond_with(200, json.dumps(card(interface(f"{other.url}/a2a/jsonrpc"))), times=1)
    result = await connector.register_a2a("crafted", agent)
    assert result.success, result.errors
    assert result.warnings == [f"The agent card sends tasks to another origin: {other.url}"]
    [registered] = connector.named("agent.registered")
    assert registered.details["endpoint_origin"] == other.url


# -- the card fetch is a request like any other -----------------------------------------------


async def test_a_card_larger_than_max_response_bytes_is_refused(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(max_response_bytes="2000")
    big = card(interface("https://agent.example/a2a"), description="x" * 5000)
    agent = await serving(jamey_agent_server, big)
    assert await refused(connector, agent) == (
        "Failed to fetch agent card: response larger than 2000 bytes"
    )


async def test_a_redirect_of_the_card_fetch_is_not_followed(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(protocol="a2a")
    target = await jamey_agent_server(protocol="a2a")
    agent.redirect_to(target.url + CARD_PATH, status=302, times=1)
    assert await refused(connector, agent) == (
        "Failed to fetch agent card: Agent returned error status: 302"
    )
    assert target.requests == []


async def test_a_card_fetch_that_fails_is_named(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    gone = await jamey_agent_server(protocol="a2a")
    await gone.close()
    assert await refused(connector, gone.url) == ("Failed to fetch agent card: connection refused")


async def test_a_card_from_an_untrusted_certificate_is_refused(
    connector: Connector, jamey_agent_server: AgentServerFactory, tmp_path: Any
) -> None:
    from jamey_agent_orchestration.testing import ThrowawayCA

    with ThrowawayCA(tmp_path) as stranger:
        agent = await jamey_agent_server(protocol="a2a", ssl_context=stranger.server_context())
        error = await refused(connector, agent)
    assert error.startswith("Failed to fetch agent card: Certificate validation failed:"), error


async def test_a_card_fetch_is_retried_on_a_transient_failure(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await jamey_agent_server(protocol="a2a")
    agent.fail_next(503, times=1, headers={"Retry-After": "0"})
    result = await connector.register_a2a("ref", agent)
    assert result.success, result.errors
    assert [r.path for r in agent.requests] == [CARD_PATH, CARD_PATH]


async def test_a_name_resolving_to_a_forbidden_address_is_refused_at_the_card_fetch(
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connector = await make_connector(allow_networks="")
    agent = await jamey_agent_server(protocol="a2a")
    resolve(monkeypatch, REBOUND_HOST, "127.0.0.1")
    error = await refused(connector, f"https://{REBOUND_HOST}:{agent.port}")
    assert error.startswith("Security violation:"), error
    assert "127.0.0.1" in error
    assert agent.requests == []


async def test_an_interface_name_resolving_to_a_forbidden_address_is_refused_at_connect_time(
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The card comes from the one allowed address; its interface is a public-looking name that
    # resolves to another loopback address, which is not allowed.
    connector = await make_connector(allow_networks="127.0.0.1/32")
    agent = await jamey_agent_server(handlers={"echo": echo}, protocol="a2a")
    resolve(monkeypatch, REBOUND_HOST, "127.0.0.2")
    rebound = f"https://{REBOUND_HOST}:{agent.port}/a2a/jsonrpc"
    agent.respond_with(200, json.dumps(card(interface(rebound))), times=1)
    registered = await connector.register_a2a("rebound", agent)
    assert registered.success, registered.errors  # a name is judged when it is dialled
    result = await connector.call("send_task", agent_id="rebound", task="echo")
    assert result.errors[0].startswith("Security violation:"), result.errors
    assert "127.0.0.2" in result.errors[0]
    assert result.agents_contacted == []
    assert len(agent.requests) == 1  # the card fetch only


# -- hostile answers --------------------------------------------------------------------------


async def answering(factory: AgentServerFactory, answer: bytes) -> RecordingAgent:
    """A reference A2A agent whose JSON-RPC endpoint answers ``answer`` (its card is real)."""
    agent = await factory(handlers={"echo": echo}, protocol="a2a")

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == CARD_PATH:
            document = card(interface(f"{agent.url}/a2a/jsonrpc"))
            return web.json_response(document)
        return web.Response(body=answer, content_type="application/json")

    agent.serve_with(handle)
    return agent


def task_with_metadata(metadata: Any) -> bytes:
    task = {
        "id": "t-1",
        "contextId": "c-1",
        "status": {"state": "TASK_STATE_COMPLETED"},
        "metadata": metadata,
    }
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"task": task}}).encode()


async def test_a_huge_task_is_refused(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory
) -> None:
    connector = await make_connector(max_response_bytes="10000")
    agent = await answering(jamey_agent_server, task_with_metadata({"blob": "x" * 20_000}))
    assert (await connector.register_a2a("huge", agent)).success
    result = await connector.call("send_task", agent_id="huge", task="echo")
    assert result.errors == ["Failed to send task to agent: response larger than 10000 bytes"]
    assert result.output == ""


async def test_a_deeply_nested_task_is_refused(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    nested: Any = "bottom"
    for _ in range(200):
        nested = {"down": nested}
    agent = await answering(jamey_agent_server, task_with_metadata(nested))
    assert (await connector.register_a2a("deep", agent)).success
    result = await connector.call("send_task", agent_id="deep", task="echo")
    assert result.errors == [
        "Invalid agent response: result.task is nested deeper than 64 levels"
    ], result.errors
    [event] = connector.named("connector.execute")[-1:]
    assert event.outcome == "failure"


async def test_a_number_no_float_can_hold_is_not_json(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    task = b'{"id": "t", "contextId": "c", "status": {"state": "TASK_STATE_COMPLETED"}'
    answer = b'{"jsonrpc": "2.0", "id": 1, "result": {"task": ' + task + b', "n": 1e400}}}'
    agent = await answering(jamey_agent_server, answer)
    assert (await connector.register_a2a("huge-number", agent)).success
    result = await connector.call("send_task", agent_id="huge-number", task="echo")
    assert result.errors == ["Failed to send task to agent: response is not JSON"]


async def test_a_nesting_deeper_than_the_json_parser_allows_is_not_json(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await answering(jamey_agent_server, b"[" * 100_000 + b"]" * 100_000)
    assert (await connector.register_a2a("deeper", agent)).success
    result = await connector.call("send_task", agent_id="deeper", task="echo")
    assert result.errors == ["Failed to send task to agent: response is not JSON"]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            b'{"jsonrpc": "2.0", "id": 1}',
            "Invalid agent response: the document has neither result nor error",
        ),
        (
            b'{"jsonrpc": "2.0", "id": 1, "result": {"task": {"id": "t", "contextId": "c", '
            b'"status": {"state": "completed"}}}}',
            "Invalid agent response: result.task.status.state is not a known task state: "
            "'completed' (v0.3 spellings such as 'completed' are not A2A v1.0)",
        ),
        (
            b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "bad\\u001b[2J'
            + b"x" * 300
            + b'"}}',
            # control characters out, cut to 200 characters
            "Agent returned error: -32000 bad[2J" + "x" * 194,
        ),
    ],
)
async def test_answers_that_are_not_a2a_are_refused_naming_the_field(
    connector: Connector, jamey_agent_server: AgentServerFactory, answer: bytes, error: str
) -> None:
    agent = await answering(jamey_agent_server, answer)
    assert (await connector.register_a2a("odd", agent)).success
    result = await connector.call("send_task", agent_id="odd", task="echo")
    assert result.errors == [error]
