"""2b. A2A agents: send_task against raw aiohttp and against the official SDK's client; broadcast.

The agents are the reference agent in A2A mode (JSON-RPC, an aiohttp application served by the
fleet's processes), so that what is measured is the client's own cost: the official SDK's server
(Starlette, protobuf) would take several times longer to answer, and any client would then look
closer to raw than it is.

**send_task**, one caller, one request at a time, ``n`` requests per sample, three sides in one
rotation against the same agent (``/a2a-agent`` of the first process):

* runtime: the agent registered with ``protocol=a2a`` from its card, then ``execute_connector(
  "agent_orchestration", {"action": "send_task", "agent_id": "a2a0", "task": "echo", "param_x":
  "1"})``;
* raw: ``session.post(interface, data=body, headers=...)`` on one shared ``aiohttp.ClientSession``
  (same CA) with the same JSON-RPC ``SendMessage`` body and headers (``Authorization``,
  ``A2A-Version: 1.0``, ``Content-Type``, a fresh ``Idempotency-Key``, which is also the
  ``messageId`` and the JSON-RPC ``id``), ``await resp.read()``, ``json.loads``, the state checked;
* sdk: the official SDK's client (``a2a-sdk``): ``ClientFactory(ClientConfig(httpx_client=shared,
  streaming=False, supported_protocol_bindings=["JSONRPC"])).create(card)``, with the settings its
  documentation allows for speed: one shared ``httpx.AsyncClient`` (HTTP/1.1, keep-alive, its
  connections kept 60 s, so they are warm on every turn), the key as a default header of that
  client (no interceptor per call), and the SDK's own OpenTelemetry instrumentation off
  (``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=false``). Each request is ``SendMessageRequest`` with the
  same message (a text part ``echo`` and the data part ``{"x": "1"}``), its events read to the end
  and the Task's state checked. The SDK is installed in the bench environment only.

**broadcast**: K A2A agents (``/a2a/N`` spread round-robin over the fleet's processes, each
registered from its own card), ``max_concurrency`` 64, against raw aiohttp: ``asyncio.gather`` of
one POST of that JSON-RPC body per agent under ``asyncio.Semaphore(64)``, each answer parsed and its
state checked, collected into ``{agent_id: answer}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import statistics
import time
import uuid
from typing import Any

import aiohttp

from jamey_host import Runtime

from ._broadcasting import (
    CONCURRENCY,
    runtime_and_session,
    timed_broadcast,
    timed_raw_broadcast,
    versus_raw_gather,
)
from ._common import Figure, Settings, log, paired, ratios, timed_calls
from .agent_server import A2A_AGENTS, A2A_PREFIX
from .fleet import Fleet

CONNECTOR = "agent_orchestration"
COMPLETED = "TASK_STATE_COMPLETED"


def _message(key: str) -> bytes:
    """The JSON-RPC SendMessage the connector sends for ``task=echo, param_x=1``."""
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": key,
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": key,
                    "role": "ROLE_USER",
                    "parts": [
                        {"text": "echo"},
                        {"data": {"x": "1"}, "mediaType": "application/json"},
                    ],
                }
            },
        },
        separators=(",", ":"),
    ).encode()


def _headers(auth: str, key: str) -> dict[str, str]:
    return {
        "Authorization": auth,
        "A2A-Version": "1.0",
        "Content-Type": "application/json",
        "Idempotency-Key": key,
    }


async def _register(runtime: Runtime, agent_id: str, url: str, api_key: str, **extra: str) -> None:
    params = {
        "action": "register_agent",
        "agent_id": agent_id,
        "url": url,
        "api_key": api_key,
        "protocol": "a2a",
        **extra,
    }
    registered = await runtime.execute_connector(CONNECTOR, params)
    assert registered.success, registered.errors


async def run(settings: Settings, fleet: Fleet) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    async with runtime_and_session(fleet) as (runtime, session):
        sent, raw["send_task"] = await _send_task(settings, fleet, runtime, session)
        figures += sent
        figure, raw["broadcast"] = await _broadcast(settings, fleet, runtime, session)
        figures.append(figure)
    return figures, raw


async def _send_task(
    settings: Settings, fleet: Fleet, runtime: Runtime, session: aiohttp.ClientSession
) -> tuple[list[Figure], dict[str, Any]]:
    n = settings.send_requests
    base = f"https://127.0.0.1:{fleet.ports[0]}{A2A_PREFIX}"
    await _register(runtime, "a2a0", base, fleet.api_key)
    params = {"action": "send_task", "agent_id": "a2a0", "task": "echo", "param_x": "1"}

    async def runtime_side() -> float:
        return await timed_calls(runtime, params, n)

    endpoint = f"{base}/a2a/jsonrpc"
    auth = f"Bearer {fleet.api_key}"

    async def raw_side() -> float:
        start = time.perf_counter()
        for _ in range(n):
            key = uuid.uuid4().hex
            body = _message(key)
            async with session.post(endpoint, data=body, headers=_headers(auth, key)) as response:
                if response.status != 200:
                    raise RuntimeError(f"raw send failed: {response.status}")
                answer = json.loads(await response.read())
                if answer["result"]["task"]["status"]["state"] != COMPLETED:
                    raise RuntimeError(f"raw send failed: {answer}")
        return time.perf_counter() - start

    async with _sdk_sender(base, fleet.ca.client_context(), auth) as sdk_send:

        async def sdk_side() -> float:
            start = time.perf_counter()
            for _ in range(n):
                await sdk_send()
            return time.perf_counter() - start

        log(f"A2A send_task: runtime, raw aiohttp, SDK client, {settings.reps} rounds of {n}")
        samples = await paired(
            {"runtime": runtime_side, "raw": raw_side, "sdk": sdk_side}, settings.reps
        )
    rate = {side: [n / t for t in ts] for side, ts in samples.items()}
    title = "send_task to an A2A agent (JSON-RPC)"
    figures = [
        Figure(
            key="a2a.send_task.vs_raw",
            title=title,
            value=statistics.median(rate["runtime"]),
            unit="req/s",
            baseline="raw aiohttp, same JSON-RPC body",
            baseline_value=statistics.median(rate["raw"]),
            ratio=ratios(samples["raw"], samples["runtime"]),
            ratio_label="of raw",
        ).judge(">=", 0.90),
        Figure(
            key="a2a.send_task.vs_sdk",
            title=title,
            value=statistics.median(rate["runtime"]),
            unit="req/s",
            baseline="a2a-sdk client (httpx)",
            baseline_value=statistics.median(rate["sdk"]),
            ratio=ratios(samples["sdk"], samples["runtime"]),
            ratio_label="x SDK",
        ).judge(">=", 3.0),
        Figure(
            key="a2a.send_task.raw_vs_sdk",
            title="raw aiohttp, same A2A agent",
            value=statistics.median(rate["raw"]),
            unit="req/s",
            baseline="a2a-sdk client (httpx)",
            baseline_value=statistics.median(rate["sdk"]),
            ratio=ratios(samples["sdk"], samples["raw"]),
            ratio_label="x SDK",
            note="what any aiohttp client can reach over the SDK's",
        ),
    ]
    return figures, {"requests_per_second": rate, "requests_per_sample": n}


class _sdk_sender:  # noqa: N801 - used as a context manager like a function
    """``async with _sdk_sender(base, context, auth) as send: await send()``: one SDK send_task.

    The card is fetched once, by the SDK's own resolver, before any request is timed.
    """

    def __init__(self, base: str, context: ssl.SSLContext, auth: str) -> None:
        self._base = base
        self._context = context
        self._auth = auth

    async def __aenter__(self) -> Any:
        # Read when the SDK is first imported: its spans would cost every call, recorded or not.
        os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
        import httpx
        from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
        from a2a.helpers.proto_helpers import new_data_part, new_text_part
        from a2a.types import Message, Role, SendMessageRequest, TaskState

        self._http = httpx.AsyncClient(
            verify=self._context,
            http2=False,
            timeout=30.0,
            headers={"Authorization": self._auth},
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60.0),
        )
        card = await A2ACardResolver(self._http, self._base).get_agent_card()
        config = ClientConfig(
            httpx_client=self._http, streaming=False, supported_protocol_bindings=["JSONRPC"]
        )
        self._client = ClientFactory(config).create(card)
        client = self._client
        completed = TaskState.TASK_STATE_COMPLETED

        async def send() -> None:
            message = Message(
                message_id=str(uuid.uuid4()),
                role=Role.ROLE_USER,
                parts=[new_text_part("echo"), new_data_part({"x": "1"}, "application/json")],
            )
            states = [
                event.task.status.state
                async for event in client.send_message(SendMessageRequest(message=message))
            ]
            if states != [completed]:
                raise RuntimeError(f"SDK send failed: {states}")

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()
        await self._http.aclose()


async def _broadcast(
    settings: Settings, fleet: Fleet, runtime: Runtime, session: aiohttp.ClientSession
) -> tuple[Figure, dict[str, Any]]:
    sizes = tuple(sorted(settings.a2a_broadcast_sizes))
    largest = max(sizes)
    ports = fleet.ports
    agents = [
        (f"b{i}", f"https://127.0.0.1:{ports[i % len(ports)]}{A2A_AGENTS}/{i}")
        for i in range(largest)
    ]
    log(f"A2A broadcast: registering {largest} agents from their cards")
    for i, (agent_id, url) in enumerate(agents):
        caps = ",".join(f"a2a-upto{k}" for k in sizes if i < k)
        await _register(runtime, agent_id, url, fleet.api_key, capabilities=caps)
    auth = f"Bearer {fleet.api_key}"

    async def raw_broadcast(subset: list[tuple[str, str]]) -> dict[str, Any]:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(url: str) -> Any:
            async with limit:
                key = uuid.uuid4().hex
                async with session.post(
                    url + "/a2a/jsonrpc", data=_message(key), headers=_headers(auth, key)
                ) as response:
                    if response.status != 200:
                        return {"error": f"status {response.status}"}
                    answer = json.loads(await response.read())
                    task = answer["result"]["task"]
                    return task if task["status"]["state"] == COMPLETED else {"error": "state"}

        answers = await asyncio.gather(*(one(url) for _, url in subset))
        return dict(zip((agent_id for agent_id, _ in subset), answers, strict=True))

    raw: dict[str, Any] = {"concurrency": CONCURRENCY, "servers": len(ports), "sizes": {}}
    figure: Figure | None = None
    for size in sizes:
        params = {
            "action": "broadcast",
            "task": "echo",
            "param_x": "1",
            "capability": f"a2a-upto{size}",
        }
        subset = agents[:size]

        async def runtime_side(params: dict[str, str] = params, size: int = size) -> float:
            return await timed_broadcast(runtime, params, size, "A2A broadcast")

        async def raw_side(subset: list[tuple[str, str]] = subset) -> float:
            return await timed_raw_broadcast(raw_broadcast, subset, "raw A2A broadcast")

        log(f"A2A broadcast: {size} agents, {settings.reps} pairs")
        samples = await paired({"runtime": runtime_side, "raw": raw_side}, settings.reps)
        raw["sizes"][str(size)] = {"seconds": samples}
        if size == largest:
            figure = versus_raw_gather(
                key=f"a2a.broadcast.{size}",
                title=f"broadcast to {size} A2A agents ({len(ports)} servers)",
                samples=samples,
            ).judge(">=", 0.90)
    assert figure is not None
    return figure, raw
