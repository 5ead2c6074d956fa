"""An agent that sends its key back (issue 14 item 1): the key never reaches a result.

The connector knows the key it sent with each request. Whatever an agent answers, on either
protocol, in its JSON body, its error text, a Task's ids, status or artifacts, in a send_task or a
broadcast, the key is replaced by ``***`` and the call audits ``agent.response_scrubbed`` (with the
agent's id, never the key).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from aiohttp import web

from jamey_agent_orchestration.model import ApiKey

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory, RecordingAgent
    from jamey_host import ConnectorResult

    from ..connector import Connector

KEY = "ECHOED-KEY-5b1e/+=="
CARD_PATH = "/.well-known/agent-card.json"


def presented(request: web.Request) -> str:
    """What the agent was sent: the whole Authorization header (``Bearer KEY``)."""
    return request.headers.get("Authorization", "")


def leaks(result: ConnectorResult) -> list[str]:
    texts = [result.output, *result.errors, *result.warnings, *result.metadata.values()]
    texts += list(result.metadata)
    return [text for text in texts if KEY in text]


async def echoing(
    factory: AgentServerFactory, answer: Callable[[web.Request], web.StreamResponse]
) -> RecordingAgent:
    agent = await factory(api_key=KEY, name="echoer")
    agent.serve_with(_async(answer))
    return agent


def _async(answer: Callable[[web.Request], web.StreamResponse]) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        return answer(request)

    return handle


def assert_scrubbed(connector: Connector, result: ConnectorResult, agent_id: str) -> None:
    assert leaks(result) == []
    scrubbed = connector.named("agent.response_scrubbed")
    assert [event.details["agent_id"] for event in scrubbed] == [agent_id]
    assert scrubbed[0].outcome == "warning"
    assert [event.event for event in connector.events if KEY in event.to_json()] == []


# -- the jamey protocol -------------------------------------------------------------------------


async def test_a_key_echoed_in_a_json_answer_is_scrubbed(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    def answer(request: web.Request) -> web.StreamResponse:
        header = presented(request)
        body = {
            "headers": {"Authorization": header},
            "key": header.removeprefix("Bearer "),
            "nested": [{header.removeprefix("Bearer "): ["in a key", f"x{header}y"]}],
        }
        return web.json_response(body)

    agent = await echoing(jamey_agent_server, answer)
    assert (await connector.register("echo", agent)).success
    result = await connector.call("send_task", agent_id="echo", task="t")
    assert result.success, result.errors
    assert result.json() == {
        "headers": {"Authorization": "Bearer ***"},
        "key": "***",
        "nested": [{"***": ["in a key", "xBearer ***y"]}],
    }
    assert_scrubbed(connector, result, "echo")


async def test_a_key_hidden_in_json_escapes_is_scrubbed_too(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    def answer(request: web.Request) -> web.StreamResponse:
        escaped = "".join(f"\\u{ord(c):04x}" for c in presented(request))
        return web.Response(body=f'{{"echo": "{escaped}"}}', content_type="application/json")

    agent = await echoing(jamey_agent_server, answer)
    assert (await connector.register("escaped", agent)).success
    result = await connector.call("send_task", agent_id="escaped", task="t")
    assert result.json() == {"echo": "Bearer ***"}
    assert_scrubbed(connector, result, "escaped")


async def test_a_key_echoed_deeper_than_orjson_writes_is_scrubbed_too(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    # 300 levels: orjson reads it, but writes at most 254; the standard library writes it again.
    def answer(request: web.Request) -> web.StreamResponse:
        body = "[" * 300 + json.dumps(presented(request)) + "]" * 300
        return web.Response(body=body, content_type="application/json")

    agent = await echoing(jamey_agent_server, answer)
    assert (await connector.register("deep", agent)).success
    result = await connector.call("send_task", agent_id="deep", task="t")
    assert result.success, result.errors
    assert result.output == "[" * 300 + '"Bearer ***"' + "]" * 300
    assert_scrubbed(connector, result, "deep")


async def test_a_key_in_a_value_a_repeated_name_replaced_is_not_passed_on(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    # A parser keeps the last of two equal names; the agent's text holds both.
    def answer(request: web.Request) -> web.StreamResponse:
        body = f'{{"echo": {json.dumps(presented(request))}, "echo": "hello"}}'
        return web.Response(body=body, content_type="application/json")

    agent = await echoing(jamey_agent_server, answer)
    assert (await connector.register("twice", agent)).success
    result = await connector.call("send_task", agent_id="twice", task="t")
    assert result.success, result.errors
    assert result.json() == {"echo": "hello"}
    assert_scrubbed(connector, result, "twice")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (lambda h: json.dumps({"error": f"bad key: {h}"}), "application/json"),
        (lambda h: json.dumps({"error": {"message": f"bad key: {h}"}}), "application/json"),
        (lambda h: f"bad key: {h}", "text/plain"),
    ],
)
async def test_a_key_echoed_in_an_error_is_scrubbed(
    connector: Connector,
    jamey_agent_server: AgentServerFactory,
    body: Callable[[str], str],
    content_type: str,
) -> None:
    def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=403, body=body(presented(request)), content_type=content_type)

    agent = await echoing(jamey_agent_server, answer)
    assert (await connector.register("err", agent)).success
    result = await connector.call("send_task", agent_id="err", task="t")
    assert result.errors == ["Agent returned error status: 403: bad key: Bearer ***"]
    assert_scrubbed(connector, result, "err")
    assert KEY not in connector.last_execute().to_json()


async def test_a_key_cut_at_the_length_of_an_error_message_leaves_no_part_of_it(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "x" * 190 + presented(request)}, status=400)

    agent = await echoing(jamey_agent_server, answer)
    assert (await connector.register("cut", agent)).success
    result = await connector.call("send_task", agent_id="cut", task="t")
    assert KEY[:8] not in result.errors[0]  # scrubbed before it was cut to 200 characters


async def test_a_broadcast_scrubs_each_agents_answer(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response({"auth": presented(request)})

    one = await echoing(jamey_agent_server, answer)
    two = await echoing(jamey_agent_server, answer)
    honest = await jamey_agent_server(api_key="another-key", handlers={"t": lambda r: {"ok": 1}})
    for agent_id, agent in (("one", one), ("two", two), ("honest", honest)):
        assert (await connector.register(agent_id, agent)).success
    result = await connector.call("broadcast", task="t")
    assert result.json() == {
        "one": {"auth": "Bearer ***"},
        "two": {"auth": "Bearer ***"},
        "honest": {"ok": 1},
    }
    assert leaks(result) == []
    scrubbed = connector.named("agent.response_scrubbed")
    assert sorted(event.details["agent_id"] for event in scrubbed) == ["one", "two"]


async def test_an_answer_without_the_key_is_left_as_the_agent_sent_it(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body='{"a":  "\\u00e9", "b": [1, 2.50]}', content_type="application/json"
        )

    agent = await echoing(jamey_agent_server, answer)
    assert (await connector.register("plain", agent)).success
    result = await connector.call("send_task", agent_id="plain", task="t")
    assert result.output == '{"a":  "\\u00e9", "b": [1, 2.50]}'  # its own text, not re-encoded
    assert connector.named("agent.response_scrubbed") == []


# -- A2A ----------------------------------------------------------------------------------------


def a2a_echoer(agent_url: Callable[[], str], respond: Callable[[str, dict[str, Any]], Any]) -> Any:
    """A hostile A2A agent: a real card, and JSON-RPC answers built by ``respond(key, call)``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == CARD_PATH:
            interface = {
                "url": f"{agent_url()}/a2a/jsonrpc",
                "protocolBinding": "JSONRPC",
                "protocolVersion": "1.0",
            }
            return web.json_response({"name": "Echoer", "supportedInterfaces": [interface]})
        call = await request.json()
        key = presented(request).removeprefix("Bearer ")
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], **respond(key, call)})

    return handle


def task(key: str, state: str = "TASK_STATE_COMPLETED") -> dict[str, Any]:
    return {
        "id": f"task-{key}",
        "contextId": f"ctx-{key}",
        "status": {
            "state": state,
            "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": f"saw {key}"}]},
        },
        "artifacts": [{"artifactId": "a", "parts": [{"data": {"you_sent": f"Bearer {key}"}}]}],
    }


async def a2a_agent(
    factory: AgentServerFactory, respond: Callable[[str, dict[str, Any]], Any]
) -> RecordingAgent:
    agent = await factory(api_key=KEY, name="a2a-echoer", protocol="a2a")
    agent.serve_with(a2a_echoer(lambda: agent.url, respond))
    return agent


async def test_an_a2a_agent_echoing_the_key_in_its_task_is_scrubbed(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(jamey_agent_server, lambda key, call: {"result": {"task": task(key)}})
    assert (await connector.register_a2a("a2a", agent)).success
    result = await connector.call("send_task", agent_id="a2a", task="t")
    assert result.success, result.errors
    assert result.json()["artifacts"][0]["parts"][0]["data"] == {"you_sent": "Bearer ***"}
    assert result.metadata["task_id"] == "task-***"
    assert result.metadata["context_id"] == "ctx-***"
    assert_scrubbed(connector, result, "a2a")


async def test_an_a2a_task_spelling_the_key_across_its_punctuation_is_refused(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    # No string holds the key, and the agent's spaced text does not spell it; the Task written
    # again compact would ("x SPELLED":"OUT y"), so no text of it is given. Registration refuses
    # such a key now (new_key_problem); one stored before that rule is still read and sent.
    key = 'SPELLED":"OUT'
    spelled = {
        "id": "t-1",
        "contextId": "c-1",
        "status": {"state": "TASK_STATE_COMPLETED"},
        "metadata": {"x SPELLED": "OUT y"},
    }
    agent = await jamey_agent_server(api_key=KEY, name="a2a-speller", protocol="a2a")
    agent.serve_with(a2a_echoer(lambda: agent.url, lambda _, call: {"result": {"task": spelled}}))
    assert (await connector.register_a2a("speller", agent)).success
    store = connector.plugin.store
    stored = await store.get("speller")
    assert stored is not None
    await store.replace(attrs.evolve(stored, api_key=ApiKey(key)))
    result = await connector.call("send_task", agent_id="speller", task="t")
    assert result.errors == [
        "Failed to send task to agent: the answer spells the API key across its punctuation"
    ]
    forms = (key, json.dumps(key)[1:-1])  # as it is, and as JSON writes it
    texts = [result.output, *result.errors, *result.warnings, *result.metadata.values()]
    assert [text for text in texts if any(form in text for form in forms)] == []
    events = [event.to_json() for event in connector.events]
    assert [line for line in events if any(form in line for form in forms)] == []
    assert [e.details["agent_id"] for e in connector.named("agent.response_scrubbed")] == [
        "speller"
    ]


async def test_an_a2a_agent_echoing_the_key_in_a_failed_task_or_an_error_is_scrubbed(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    def respond(key: str, call: dict[str, Any]) -> dict[str, Any]:
        if call["method"] == "SendMessage":
            return {"result": {"task": task(key, "TASK_STATE_FAILED")}}
        return {"error": {"code": -32001, "message": f"no task for {key}"}}

    agent = await a2a_agent(jamey_agent_server, respond)
    assert (await connector.register_a2a("a2a", agent)).success
    failed = await connector.call("send_task", agent_id="a2a", task="t")
    assert failed.errors == ["Agent task ended in state TASK_STATE_FAILED: saw ***"]
    assert leaks(failed) == []
    queried = await connector.call("get_task", agent_id="a2a", task_id="t-1")
    assert queried.errors == ["Agent returned error: -32001 no task for ***"]
    assert leaks(queried) == []
    scrubbed = connector.named("agent.response_scrubbed")
    assert [event.details["agent_id"] for event in scrubbed] == ["a2a", "a2a"]


async def test_an_interrupted_a2a_task_echoing_the_key_warns_without_it(
    connector: Connector, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await a2a_agent(
        jamey_agent_server,
        lambda key, call: {"result": {"task": task(key, "TASK_STATE_INPUT_REQUIRED")}},
    )
    assert (await connector.register_a2a("a2a", agent)).success
    result = await connector.call("broadcast", task="t")
    assert result.warnings == ["a2a: Agent task is in state TASK_STATE_INPUT_REQUIRED: saw ***"]
    assert leaks(result) == []
    assert connector.named("agent.response_scrubbed")
