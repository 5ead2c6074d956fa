"""An agent's own words in an error answer (issue 13 item 7): ``Agent returned error status:
CODE`` first, then its message from the body (never a header), cleaned and cut to 200
characters."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from aiohttp import web

from jamey_agent_orchestration.net.agent_text import clean_text, error_message, status_error
from jamey_agent_orchestration.testing import AgentServerFactory

from .clients import KEY, MakeClient, send


def answering(status: int, body: bytes, content_type: str | None, **headers: str) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=status, body=body, headers=headers)
        if content_type is not None:
            response.content_type = content_type
        return response

    return handle


async def error_of(
    make_client: MakeClient,
    factory: AgentServerFactory,
    status: int,
    body: bytes,
    content_type: str | None = "application/json",
    **headers: str,
) -> str | None:
    agent = await factory(api_key=KEY.reveal())
    agent.serve_with(answering(status, body, content_type, **headers))
    delivery = await send(await make_client(retries=1), agent.url)
    assert not delivery.ok
    return delivery.error


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (
            404,
            b'{"error": "Unknown task: nosuch"}',
            "application/json",
            "404: Unknown task: nosuch",
        ),
        (
            400,
            b'{"error": {"code": 400, "message": "bad params"}}',
            "application/json",
            "400: bad params",
        ),
        (422, b'{"message": "text is required"}', "application/json", "422: text is required"),
        (503, b"overloaded, come back later", "text/plain", "503: overloaded, come back later"),
        (404, b"404: Not Found", "text/plain", "404: Not Found"),  # the code is not repeated
        (500, b"<html><body>Internal error</body></html>", "text/html", "500"),
        (500, b"x" * 2000, "text/plain", "500"),  # a page, not a message
        (502, b"", None, "502"),
        (400, b'{"detail": "not our shape"}', "application/json", "400"),
        (400, b'{"error": 42}', "application/json", "400"),
        (
            400,
            b'{"error": "  \\u001b[31mred\\u001b[0m\\n\\ttab  "}',
            "application/json",
            "400: [31mred[0m tab",
        ),
    ],
)
async def test_the_agents_message_follows_the_status(
    make_client: MakeClient,
    jamey_agent_server: AgentServerFactory,
    status: int,
    body: bytes,
    content_type: str | None,
    expected: str,
) -> None:
    error = await error_of(make_client, jamey_agent_server, status, body, content_type)
    assert error == f"Agent returned error status: {expected}"


async def test_a_long_message_is_cut_to_200_characters(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    body = json.dumps({"error": "é" * 500}).encode()
    error = await error_of(make_client, jamey_agent_server, 400, body)
    assert error == "Agent returned error status: 400: " + "é" * 200


async def test_a_header_never_becomes_the_message(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    error = await error_of(
        make_client, jamey_agent_server, 401, b"", None, **{"X-Error": "from a header"}
    )
    assert error == "Agent returned error status: 401"


async def test_a_compressed_error_body_is_read(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    body = gzip.compress(b'{"error": "squeezed"}')
    error = await error_of(
        make_client,
        jamey_agent_server,
        400,
        body,
        "application/json",
        **{"Content-Encoding": "gzip"},
    )
    assert error == "Agent returned error status: 400: squeezed"


async def test_an_error_body_larger_than_the_limit_gives_the_status_alone(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    body = json.dumps({"error": "big", "pad": "x" * 100_000}).encode()
    error = await error_of(make_client, jamey_agent_server, 400, body)
    assert error == "Agent returned error status: 400"


def test_error_message_shapes() -> None:
    assert error_message({"error": "a"}) == "a"
    assert error_message({"error": {"message": "b", "code": 1}}) == "b"
    assert error_message({"message": "c"}) == "c"
    assert error_message({"error": {"code": 1}}) is None
    assert error_message({"error": "   "}) is None
    assert error_message(["error"]) is None
    assert error_message(None) is None


def test_status_error_wording() -> None:
    assert status_error(404) == "Agent returned error status: 404"
    assert status_error(404, "Not Found") == "Agent returned error status: 404: Not Found"
    assert status_error(404, "404 - Not Found") == "Agent returned error status: 404: Not Found"
    assert status_error(503, "404 mismatched") == "Agent returned error status: 503: 404 mismatched"
    assert clean_text("a\u202eb") == "ab"
