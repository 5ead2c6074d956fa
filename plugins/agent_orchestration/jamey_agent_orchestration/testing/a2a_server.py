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
import datetime
import hmac
import inspect
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final, final

from aiohttp import web
from aiohttp.typedefs import Middleware

from jamey_agent_orchestration.testing.server import (
    JSON,
    Handler,
    TaskError,
    TaskRequest,
    traced,
)

__all__ = [
    "A2A_PATH",
    "CARD_PATH",
    "INPUT_TASK",
    "LONG_TASK",
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

_SUBMITTED: Final = "TASK_STATE_SUBMITTED"
_WORKING: Final = "TASK_STATE_WORKING"
_COMPLETED: Final = "TASK_STATE_COMPLETED"
_FAILED: Final = "TASK_STATE_FAILED"
_CANCELED: Final = "TASK_STATE_CANCELED"
_REJECTED: Final = "TASK_STATE_REJECTED"
_INPUT_REQUIRED: Final = "TASK_STATE_INPUT_REQUIRED"
_FINISHED: Final = frozenset({_COMPLETED, _FAILED, _CANCELED, _REJECTED})
_MAX_IDEMPOTENCY_KEY: Final = 255


class _RpcError(Exception):
    """Answered as a JSON-RPC error object (with HTTP 200, as A2A does)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _now() -> str:
    moment = datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text_part(text: str) -> dict[str, Any]:
    return {"text": text}


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@final
class _Task:
    """One A2A task as the agent keeps it, and what its waiters wait for."""

    def __init__(self, *, name: str, context_id: str, user_message: dict[str, Any]) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.context_id = context_id
        self.state = _SUBMITTED
        self.status_message: dict[str, Any] | None = None
        self.timestamp = _now()
        self.artifacts: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = [self._own(user_message)]
        self.settled = asyncio.Event()  # a finished or interrupted state was reached
        self.job: asyncio.Task[None] | None = None

    def _own(self, message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "contextId": self.context_id, "taskId": self.id}

    def agent_message(self, text: str) -> dict[str, Any]:
        return {
            "messageId": str(uuid.uuid4()),
            "contextId": self.context_id,
            "taskId": self.id,
            "role": "ROLE_AGENT",
            "parts": [_text_part(text)],
        }

    def move(self, state: str, text: str | None = None) -> None:
        """Enter ``state``; the status message it replaces goes to the history, as the SDK does."""
        if self.status_message is not None:
            self.history.append(self.status_message)
        self.state = state
        self.status_message = None if text is None else self.agent_message(text)
        self.timestamp = _now()
        if state in _FINISHED or state == _INPUT_REQUIRED:
            self.settled.set()
        else:
            self.settled.clear()

    def add_user_message(self, message: dict[str, Any]) -> None:
        """A follow-up: the agent's question goes to the history before the reply, in the order
        things were said, as the SDK does."""
        if self.status_message is not None:
            self.history.append(self.status_message)
            self.status_message = None
        self.history.append(self._own(message))

    def to_json(self, history_length: int | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state, "timestamp": self.timestamp}
        if self.status_message is not None:
            status["message"] = self.status_message
        shown: dict[str, Any] = {"id": self.id, "contextId": self.context_id, "status": status}
        if self.artifacts:
            shown["artifacts"] = self.artifacts
        history = self.history if history_length is None else self.history[-history_length:]
        if history_length != 0 and history:
            shown["history"] = history
        return shown


@final
class _A2AEndpoint:
    """The JSON-RPC endpoint: its tasks, its handlers and its idempotency cache."""

    def __init__(
        self, api_key: str, name: str, handlers: Mapping[str, Handler], cache_size: int
    ) -> None:
        self._expected = f"Bearer {api_key}".encode()
        self._name = name
        self._handlers: dict[str, Handler] = {"health_check": self._health_check, **handlers}
        self._tasks: OrderedDict[str, _Task] = OrderedDict()
        self._cache_size = cache_size
        self._answers: OrderedDict[str, bytes] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[bytes]] = {}

    def _health_check(self, request: TaskRequest) -> JSON:
        return {"status": "healthy", "agent": self._name}

    # -- the card -------------------------------------------------------------------------

    def skills(self) -> list[dict[str, Any]]:
        builtin = {
            LONG_TASK: "Stays WORKING until it is cancelled (for polling and cancellation).",
            INPUT_TASK: "Asks for input; a follow-up message with its taskId completes it.",
        }
        skills = []
        for name in [*self._handlers, *builtin]:
            description = builtin.get(name, f"Runs the task {name!r}; its params are a data part.")
            skills.append({"id": name, "name": name, "description": description, "tags": []})
        return skills

    async def card(self, request: web.Request) -> web.Response:
        # The interface is served where the card was: its URL is built from the request's.
        base = str(request.url.with_query(None)).removesuffix(CARD_PATH)
        card = {
            "name": self._name,
            "description": f"The jamey reference agent {self._name!r}, in A2A mode.",
            "version": "1.0.0",
            "supportedInterfaces": [
                {"url": base + A2A_PATH, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
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
            "defaultInputModes": ["text/plain", "application/json"],
            "defaultOutputModes": ["application/json"],
            "skills": self.skills(),
        }
        return web.json_response(card)

    # -- JSON-RPC ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        supplied = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(supplied, self._expected):
            error = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Unauthorized"}}
            return web.json_response(error, status=401, headers={"WWW-Authenticate": "Bearer"})
        raw = await request.read()
        version = request.headers.get("A2A-Version", "0.3")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= _MAX_IDEMPOTENCY_KEY:
            body = _rpc_response(None, error=_RpcError(-32600, "Invalid Idempotency-Key"))
        elif key is None:
            body = await self._answer(raw, version)
        elif key in self._answers:
            self._answers.move_to_end(key)
            body = self._answers[key]
        else:
            running = self._in_flight.get(key)
            if running is None:
                running = asyncio.ensure_future(self._answer(raw, version))
                self._in_flight[key] = running
                running.add_done_callback(lambda done: self._remember(key, done))
            # Shielded: a client that goes away does not cancel the others' answer.
            body = await asyncio.shield(running)
        return web.Response(body=body, content_type="application/json")

    def _remember(self, key: str, done: asyncio.Task[bytes]) -> None:
        self._in_flight.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._answers[key] = done.result()
        while len(self._answers) > self._cache_size:
            self._answers.popitem(last=False)

    async def _answer(self, raw: bytes, version: str) -> bytes:
        request_id: object = None
        try:
            envelope = _envelope(raw)
            request_id = envelope.get("id")
            result = await self._dispatch(envelope, version)
        except _RpcError as exc:
            return _rpc_response(request_id, error=exc)
        return _rpc_response(request_id, result=result)

    async def _dispatch(self, envelope: Mapping[str, Any], version: str) -> JSON:
        if version.strip().split(".")[0] != "1":
            raise _RpcError(
                -32009,
                f"A2A version {version[:16]!r} is not supported by this agent. "
                "Expected version '1.0'.",
            )
        method = envelope.get("method")
        params = envelope.get("params")
        if not isinstance(params, dict):
            raise _RpcError(-32602, "params must be an object")
        if method == "SendMessage":
            return await self._send_message(params)
        if method == "GetTask":
            return self._get_task(params)
        if method == "CancelTask":
            return self._cancel_task(params)
        raise _RpcError(-32601, "Method not found")

    def _find(self, task_id: object) -> _Task:
        task = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise _RpcError(-32001, "Task not found")
        return task

    def _get_task(self, params: Mapping[str, Any]) -> JSON:
        task = self._find(params.get("id"))
        length = params.get("historyLength")
        if length is not None and (type(length) is not int or length < 0):
            raise _RpcError(-32602, "historyLength must be a whole number")
        return task.to_json(length)

    def _cancel_task(self, params: Mapping[str, Any]) -> JSON:
        task = self._find(params.get("id"))
        if task.state in _FINISHED:
            raise _RpcError(-32002, "Task cannot be canceled")
        if task.job is not None:
            task.job.cancel()
        task.move(_CANCELED, "canceled by request")
        return task.to_json()

    async def _send_message(self, params: Mapping[str, Any]) -> JSON:
        message = params.get("message")
        text, data = _read_message(message)
        assert isinstance(message, dict)
        configuration = params.get("configuration") or {}
        wait = not (isinstance(configuration, dict) and configuration.get("returnImmediately"))
        task_id = message.get("taskId")
        if task_id:
            task = self._find(task_id)
            if task.state in _FINISHED:
                raise _RpcError(-32004, f"Task {task.id} is in terminal state: {task.state}")
            if task.state != _INPUT_REQUIRED:
                raise _RpcError(-32004, f"Task {task.id} is not waiting for input")
            task.add_user_message(message)
            task.move(_WORKING, "working")
            self._complete(task, {"input": text, "params": data})
            return {"task": task.to_json()}
        context_id = message.get("contextId")
        task = _Task(
            name=text.strip(),
            context_id=context_id
            if isinstance(context_id, str) and context_id
            else str(uuid.uuid4()),
            user_message=message,
        )
        self._store(task)
        task.move(_WORKING, "working")
        if task.name == LONG_TASK:
            pass  # WORKING until cancelled
        elif task.name == INPUT_TASK:
            task.move(_INPUT_REQUIRED, INPUT_TEXT)
        elif task.name not in self._handlers:
            task.move(_REJECTED, f"Unknown task: {task.name}")
        elif wait:
            await self._run(task, data)
        else:
            task.job = asyncio.ensure_future(self._run(task, data))
        if wait:
            await task.settled.wait()  # long_task: until it is cancelled, or the client goes
        return {"task": task.to_json()}

    def _store(self, task: _Task) -> None:
        """Keep ``task``; past ``cache_size``, forget the oldest finished ones (never live ones)."""
        tasks = self._tasks
        tasks[task.id] = task
        for _ in range(len(tasks)):  # each task looked at once at most
            if len(tasks) <= self._cache_size:
                return
            oldest_id, oldest = next(iter(tasks.items()))
            if oldest.state in _FINISHED:
                del tasks[oldest_id]
            else:
                tasks.move_to_end(oldest_id)  # still running or waiting for input: kept

    async def _run(self, task: _Task, params: dict[str, str]) -> None:
        request = TaskRequest(task=task.name, params=params)
        try:
            result = self._handlers[task.name](request)
            if inspect.isawaitable(result):
                result = await result
            json.dumps(result)  # an answer JSON cannot encode is the handler's bug
        except TaskError as exc:
            task.move(_FAILED, exc.message)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Task %r failed", task.name)
            task.move(_FAILED, f"Task failed: {task.name}")
            return
        if task.state == _WORKING:  # not cancelled meanwhile
            self._complete(task, result)

    def _complete(self, task: _Task, result: JSON) -> None:
        task.artifacts.append(
            {
                "artifactId": str(uuid.uuid4()),
                "name": task.name,
                "parts": [{"data": result, "mediaType": "application/json"}],
            }
        )
        task.move(_COMPLETED, "completed")

    async def release(self, app: web.Application) -> None:
        """At shutdown, before connections close: blocked waiters (a long task) answer now."""
        for task in self._tasks.values():
            task.settled.set()

    async def close(self, app: web.Application) -> None:
        running: list[asyncio.Future[Any]] = [
            t.job for t in self._tasks.values() if t.job is not None and not t.job.done()
        ]
        running += self._in_flight.values()
        for job in running:
            job.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def _envelope(raw: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _RpcError(-32700, f"Invalid JSON: {exc}") from None
    if not isinstance(envelope, dict) or envelope.get("jsonrpc") != "2.0":
        raise _RpcError(-32600, "Not a JSON-RPC 2.0 request")
    return envelope


def _read_message(message: object) -> tuple[str, dict[str, str]]:
    """The task name (the first text part) and the params (the first data part, as strings)."""
    if not isinstance(message, dict):
        raise _RpcError(-32602, "Validation failed: message is required")
    if not isinstance(message.get("messageId"), str) or not message["messageId"]:
        raise _RpcError(-32602, "Validation failed: message.messageId is required")
    if message.get("role") != "ROLE_USER":
        raise _RpcError(-32602, "Validation failed: message.role must be ROLE_USER")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise _RpcError(-32602, "Validation failed: message.parts must not be empty")
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    data = [p["data"] for p in parts if isinstance(p, dict) and "data" in p]
    if not texts or not texts[0].strip():
        raise _RpcError(-32602, "Validation failed: the first text part names the task")
    if data and not isinstance(data[0], dict):
        raise _RpcError(-32602, "Validation failed: the data part must hold an object")
    params = {str(k): _param_text(v) for k, v in (data[0] if data else {}).items()}
    return texts[0], params


def _rpc_response(
    request_id: object, *, result: JSON = None, error: _RpcError | None = None
) -> bytes:
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        answer["error"] = {"code": error.code, "message": error.message}
    else:
        answer["result"] = result
    return json.dumps(answer).encode()


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
