"""The reference agent's A2A mode: an agent card and the JSON-RPC binding of A2A v1.0.

``create_a2a_app(api_key=..., handlers=...)`` serves the same task handlers as the ``jamey`` mode
(:func:`~jamey_agent_orchestration.testing.server.create_app`), so connector and host authors can
test A2A without the official SDK:

- ``GET /.well-known/agent-card.json``: the card, with no key needed. It declares the Bearer
  scheme, one skill per task (its id is the task's name), and one interface, JSON-RPC at
  ``/a2a/jsonrpc`` under the URL the card was fetched from.
- ``POST /a2a/jsonrpc`` with ``Authorization: Bearer KEY`` and ``A2A-Version: 1.0``:
  ``SendMessage``, ``GetTask``, ``CancelTask``. The message's text part names the task, its data
  part holds the params (values that are not strings arrive as their JSON text), and the handler's
  JSON answer comes back as the data part of the Task's artifact. A :class:`TaskError` fails the
  Task (FAILED, with the error as its status message); an unknown task is REJECTED.
- Two tasks of its own: ``long_task`` stays WORKING until cancelled, ``needs_input`` asks for input
  (INPUT_REQUIRED), and a follow-up message with its ``taskId`` completes it.

A repeated ``Idempotency-Key`` gets the first answer back, as in the ``jamey`` mode. Tasks are
kept in memory, the oldest finished ones forgotten past ``cache_size``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, final

from aiohttp import web
from aiohttp.typedefs import Middleware

from jamey_agent_orchestration.testing.a2a_tasks import (
    INPUT_REQUIRED,
    REJECTED,
    A2ATask,
    A2ATaskBook,
    RpcError,
    TaskMessage,
    rpc_response,
)
from jamey_agent_orchestration.testing.idempotency import IdempotentAnswers
from jamey_agent_orchestration.testing.server import (
    BearerKey,
    Handler,
    traced,
    with_health_check,
)

__all__ = [
    "A2A_PATH",
    "CARD_PATH",
    "INPUT_TASK",
    "LONG_TASK",
    "agent_card",
    "create_a2a_app",
]

log = logging.getLogger(__name__)

A2A_PATH: Final = "/a2a/jsonrpc"
CARD_PATH: Final = "/.well-known/agent-card.json"
#: A task that stays WORKING until it is cancelled: for polling and cancellation tests.
LONG_TASK: Final = "long_task"
#: A task that asks for input; a follow-up message with its ``taskId`` completes it.
INPUT_TASK: Final = "needs_input"
INPUT_TEXT: Final = "need more input: send a follow-up message with this taskId"
_JSON_TYPE: Final = "application/json"


def agent_card(
    *, name: str, description: str, base_url: str, skills: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """The card of an agent at ``base_url``: Bearer keys, JSON-RPC at :data:`A2A_PATH`, and a
    skill per ``(id, description)``."""
    return {
        "name": name,
        "description": description,
        "version": "1.0.0",
        "supportedInterfaces": [
            {"url": base_url + A2A_PATH, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "capabilities": {"streaming": False, "pushNotifications": False},
        "securitySchemes": {
            "bearer": {
                "httpAuthSecurityScheme": {
                    "scheme": "Bearer",
                    "description": "Authorization: Bearer <api key>",
                }
            }
        },
        "securityRequirements": [{"schemes": {"bearer": {}}}],
        "defaultInputModes": ["text/plain", _JSON_TYPE],
        "defaultOutputModes": [_JSON_TYPE],
        "skills": [
            {"id": skill, "name": skill, "description": said, "tags": []} for skill, said in skills
        ],
    }


@final
class _A2AEndpoint:
    """The JSON-RPC endpoint: its tasks, its handlers and its idempotency cache."""

    def __init__(
        self, api_key: str, name: str, handlers: Mapping[str, Handler], cache_size: int
    ) -> None:
        self._key = BearerKey(api_key)
        self._name = name
        self._handlers = with_health_check(name, handlers)
        self._tasks = A2ATaskBook(self._work, cache_size=cache_size)
        self._answers = IdempotentAnswers[bytes](cache_size)

    # -- the card -------------------------------------------------------------------------

    def skills(self) -> list[tuple[str, str]]:
        builtin = {
            LONG_TASK: "Stays WORKING until it is cancelled (for polling and cancellation).",
            INPUT_TASK: "Asks for input; a follow-up message with its taskId completes it.",
        }
        return [
            (name, builtin.get(name, f"Runs the task {name!r}; its params are a data part."))
            for name in [*self._handlers, *builtin]
        ]

    async def card(self, request: web.Request) -> web.Response:
        # The interface is served where the card was: its URL is built from the request's.
        base = str(request.url.with_query(None)).removesuffix(CARD_PATH)
        card = agent_card(
            name=self._name,
            description=f"The jamey reference agent {self._name!r}, in A2A mode.",
            base_url=base,
            skills=self.skills(),
        )
        return web.json_response(card)

    # -- JSON-RPC ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        if not self._key.accepts(request.headers):
            error = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Unauthorized"}}
            return web.json_response(error, status=401, headers={"WWW-Authenticate": "Bearer"})
        raw = await request.read()
        version = request.headers.get("A2A-Version", "0.3")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IdempotentAnswers.valid(key):
            body = rpc_response(None, error=RpcError(-32600, "Invalid Idempotency-Key"))
        elif key is None:
            body = await self._tasks.answer(raw, version)
        else:
            body = await self._answers.answer(key, lambda: self._tasks.answer(raw, version))
        return web.Response(body=body, content_type="application/json")

    async def _work(self, task: A2ATask, message: TaskMessage) -> dict[str, Any]:
        """What a message does here: a follow-up completes its task with what it said; a new
        task runs its handler (or is one of the two built-in tasks)."""
        if message.follow_up:
            task.complete({"input": message.text, "params": message.params})
            return task.to_json()
        if task.name == LONG_TASK:
            pass  # WORKING until cancelled
        elif task.name == INPUT_TASK:
            task.move(INPUT_REQUIRED, INPUT_TEXT)
        elif task.name not in self._handlers:
            task.move(REJECTED, f"Unknown task: {task.name}")
        elif message.wait:
            await self._run(task, message.params)
        else:
            task.job = asyncio.ensure_future(self._run(task, message.params))
        if message.wait:
            await task.settled.wait()  # long_task: until it is cancelled, or the client goes
        return task.to_json()

    async def _run(self, task: A2ATask, params: Mapping[str, str]) -> None:
        await task.run(self._handlers[task.name], params, log=log, failure="Task %r failed")

    async def release(self, app: web.Application) -> None:
        """At shutdown, before connections close: blocked waiters (a long task) answer now."""
        for task in self._tasks:
            task.settled.set()

    async def close(self, app: web.Application) -> None:
        running = [t.job for t in self._tasks if t.job is not None and not t.job.done()]
        for job in running:
            job.cancel()
        await asyncio.gather(self._answers.close(), *running, return_exceptions=True)


def create_a2a_app(
    *,
    api_key: str,
    name: str = "agent",
    handlers: Mapping[str, Handler] | None = None,
    middlewares: Sequence[Middleware] = (),
    cache_size: int = 10_000,
) -> web.Application:
    """An aiohttp application serving the A2A card and JSON-RPC binding over these handlers."""
    if not api_key:
        raise ValueError("api_key cannot be empty")
    endpoint = _A2AEndpoint(api_key, name, handlers or {}, cache_size)
    app = web.Application(middlewares=traced(middlewares))
    app.router.add_get(CARD_PATH, endpoint.card)
    app.router.add_post(A2A_PATH, endpoint.handle)
    app.on_shutdown.append(endpoint.release)
    app.on_cleanup.append(endpoint.close)
    return app
