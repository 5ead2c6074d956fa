"""An A2A agent's Task (or Message) is handed on as the agent wrote it: ``parse_json_located``
decodes an answer exactly as ``parse_json`` does, and says where its members lie in the text."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yarl
from aiohttp import web

from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.net.a2a import A2AClient
from jamey_agent_orchestration.net.body import NotJSON, parse_json, parse_json_located
from jamey_agent_orchestration.net.request import RequestSender
from jamey_agent_orchestration.net.retry import RetryPolicy
from jamey_agent_orchestration.net.scrub import KeyScrubber
from jamey_agent_orchestration.net.transport import Transport
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.testing import AgentServerFactory, ThrowawayCA

from .clients import KEY, LOOPBACK

TASK = (
    '{ "id" : "t-1", "contextId": "c-1",\n  "status": {"state": "TASK_STATE_COMPLETED"},'
    ' "artifacts": [{"artifactId": "a", "parts": [{"text": "café \\u00e9 \\"quoted\\""}]}] }'
)


def _value(document: Any, field: str) -> Any:
    for key in field.split(".") if field else []:
        document = document[key]
    return document


@pytest.mark.parametrize(
    "text",
    [
        f'{{"jsonrpc": "2.0", "id": "r-1", "result": {{"task": {TASK}}}}}',
        f' \n{{ "jsonrpc" :"2.0" , "result" : {{ "task" : {TASK} ,'
        ' "extra": [1, {"a": null}] } }\t',
        "{}",
        '{"result": {}}',
        '{"result": [1, 2], "b": {"c": {"d": 1}}}',
        '{"result": "text", "x": 1.5e3}',
    ],
)
def test_the_document_is_parse_jsons_and_each_span_holds_its_member(text: str) -> None:
    document, kept, spans = parse_json_located(text.encode(), None, inner="result")
    assert document == parse_json(text.encode())[0]
    assert kept == text
    assert "" in spans
    for field, (start, end) in spans.items():
        assert json.loads(text[start:end]) == _value(document, field)
    if isinstance(document.get("result"), dict):
        assert {f"result.{key}" for key in document["result"]} <= set(spans)


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        '"a string"',
        '{"a": 1, "a": 2}',  # a repeated key: decoded whole, the last value kept
        '{"result": {"task": 1, "task": {"id": "t"}}}',
    ],
)
def test_other_documents_are_decoded_whole_without_spans(text: str) -> None:
    document, _, spans = parse_json_located(text.encode(), None, inner="result")
    assert document == json.loads(text)
    assert spans == {}


@pytest.mark.parametrize(
    "text",
    [
        "",
        '{"a": 1',
        '{"a": 1} trailing',
        '{"a" 1}',
        "{a: 1}",
        '{"a": 1,}',
        '{"a": NaN}',
        '{"result": {"task": {"n": 1e400}}}',
        '{"result": {"task": tru}}',
        '{"a": "\x01"}',
        b'{"a": "\xff"}'.decode("latin-1"),
    ],
)
def test_what_parse_json_refuses_is_refused_alike(text: str) -> None:
    data = text.encode("latin-1") if "\xff" in text else text.encode()
    with pytest.raises(NotJSON):
        parse_json(data)
    with pytest.raises(NotJSON):
        parse_json_located(data, None, inner="result")


def test_a_scrubbed_key_leaves_no_spans() -> None:
    text = '{"result": {"task": {"echo": "Bearer test-key-abc"}}}'
    scrubber = KeyScrubber(KEY.reveal())
    document, kept, spans = parse_json_located(text.encode(), scrubber, inner="result")
    assert document == {"result": {"task": {"echo": "Bearer ***"}}}
    assert KEY.reveal() not in kept
    assert spans == {}
    assert scrubber.scrubbed


def _answering(body: str) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body.encode(), content_type="application/json")

    return handle


async def test_send_task_output_is_the_agents_own_text_of_the_task(
    jamey_agent_ca: ThrowawayCA, jamey_agent_server: AgentServerFactory
) -> None:
    server = await jamey_agent_server(api_key=KEY.reveal())
    server.serve_with(
        _answering(f'{{"jsonrpc": "2.0", "id": "k-1", "result": {{"task": {TASK}}}}}')
    )
    settings = AgentSettings(ca_bundle=jamey_agent_ca.ca_path, allow_networks=LOOPBACK, timeout=5.0)
    transport = Transport(settings)
    await transport.start()
    try:
        policy = RetryPolicy(attempts=1, timeout=settings.timeout)
        client = A2AClient(RequestSender(transport, policy), max_response_bytes=1_000_000)
        url = yarl.URL(server.url)
        agent = Agent(
            id="a1",
            name="Agent 1",
            url=url,
            api_key=KEY,
            protocol="a2a",
            endpoint=url / "a2a",
            binding="JSONRPC",
        )
        delivery = await client.send_task(agent, "echo", {}, idempotency_key="k-1")
    finally:
        await transport.close()
    assert delivery.ok, delivery.error
    assert delivery.text == TASK.strip()  # as written: its spacing, its escapes, its key order
    assert delivery.metadata["task_id"] == "t-1"
