"""The official SDK's own client (``ClientFactory``), set up for tests against any A2A agent.

It gets a shared ``httpx.AsyncClient`` that verifies the agent's certificate against ``ca_path``
and a timeout of our choosing (the SDK's default client gives up after 5 s: TRAPS.md), and an
``AuthInterceptor`` that hands ``api_key`` to whatever security scheme the card declares (Bearer or
an API-key header, as the SDK decides)::

    async with sdk_client(agent_url, ca_path=ca, api_key=key) as client:
        answer = await send_text(client, "hello", data={"n": 1})  # a Task or a Message
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, final

import httpx
from a2a.client import (
    AuthInterceptor,
    Client,
    ClientCallContext,
    ClientConfig,
    ClientFactory,
    CredentialService,
)
from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.types import GetTaskRequest, Message, Role, SendMessageRequest, Task

__all__ = ["StaticKey", "sdk_client", "send_text"]


@final
class StaticKey(CredentialService):
    """The same key for every security scheme the card names."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    async def get_credentials(
        self, security_scheme_name: str, context: ClientCallContext | None
    ) -> str | None:
        return self._api_key


@asynccontextmanager
async def sdk_client(
    url: str,
    *,
    ca_path: Path | str,
    api_key: str,
    bindings: Sequence[str] = ("JSONRPC", "HTTP+JSON"),
    streaming: bool = False,
    polling: bool = False,
    timeout: float = 10.0,
) -> AsyncIterator[Client]:
    """A client made by ``ClientFactory.create_from_url(url)``; the card picks the binding.

    ``bindings`` are those the client accepts; the first card interface among them is used.
    """
    verify = ssl.create_default_context(cafile=str(ca_path))
    async with httpx.AsyncClient(verify=verify, timeout=timeout) as http:
        config = ClientConfig(
            httpx_client=http,
            streaming=streaming,
            polling=polling,
            supported_protocol_bindings=list(bindings),
        )
        factory = ClientFactory(config)
        client = await factory.create_from_url(
            url, interceptors=[AuthInterceptor(StaticKey(api_key))]
        )
        try:
            yield client
        finally:
            await client.close()


async def send_text(
    client: Client,
    text: str,
    *,
    data: Mapping[str, Any] | None = None,
    task_id: str | None = None,
    context_id: str | None = None,
) -> Task | Message:
    """Send ``text`` (and ``data`` as a data part); return the agent's Task or Message.

    A streaming answer is read to its end and its Task fetched again, so streaming and
    non-streaming clients give the same kind of answer.
    """
    parts = [new_text_part(text)]
    if data is not None:
        parts.append(new_data_part(dict(data), media_type="application/json"))
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=parts,
        task_id=task_id or "",
        context_id=context_id or "",
    )
    events = [event async for event in client.send_message(SendMessageRequest(message=message))]
    if len(events) == 1 and events[0].HasField("message"):
        return events[0].message
    if len(events) == 1 and events[0].HasField("task"):
        return events[0].task  # a non-streaming answer: already the final Task
    task_ids = [event.task.id for event in events if event.HasField("task")]
    if not task_ids:
        raise AssertionError(f"the agent answered neither a Task nor a Message: {events!r}")
    return await client.get_task(GetTaskRequest(id=task_ids[0]))
