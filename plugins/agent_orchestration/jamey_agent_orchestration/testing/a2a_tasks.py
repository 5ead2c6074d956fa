"""An A2A agent's tasks and the JSON-RPC methods over them, with no I/O.

What the reference agent's A2A mode (:mod:`.a2a_server`) and the fake agents (:mod:`.fake_agent`)
both are: :class:`A2ATaskBook` takes the body of a JSON-RPC request (and its ``A2A-Version``)
and gives the body of the answer. It checks the envelope and the version, and serves
``SendMessage``, ``GetTask`` and ``CancelTask`` over the :class:`A2ATask` objects it keeps; what a
message does to its task is the agent's own (a :data:`Work`: run a handler, follow a script).
Errors are JSON-RPC error objects, with the codes and wording of the official SDK.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final, TypeAlias, final

import attrs

from jamey_agent_orchestration.testing.server import JSON, Handler, TaskError, TaskRequest

__all__ = [
    "CANCELED",
    "COMPLETED",
    "FAILED",
    "FINISHED",
    "INPUT_REQUIRED",
    "REJECTED",
    "TASK_STATES",
    "WAITING",
    "WORKING",
    "A2ATask",
    "A2ATaskBook",
    "RpcError",
    "TaskMessage",
    "Work",
    "call_handler",
    "rpc_response",
]

#: The task states of A2A v1.0, as the wire spells them.
TASK_STATES: Final = (
    "TASK_STATE_SUBMITTED",
    "TASK_STATE_WORKING",
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_AUTH_REQUIRED",
    "TASK_STATE_UNSPECIFIED",
)
SUBMITTED: Final = "TASK_STATE_SUBMITTED"
WORKING: Final = "TASK_STATE_WORKING"
COMPLETED: Final = "TASK_STATE_COMPLETED"
FAILED: Final = "TASK_STATE_FAILED"
CANCELED: Final = "TASK_STATE_CANCELED"
REJECTED: Final = "TASK_STATE_REJECTED"
INPUT_REQUIRED: Final = "TASK_STATE_INPUT_REQUIRED"
#: States a task never leaves.
FINISHED: Final = frozenset({COMPLETED, FAILED, CANCELED, REJECTED})
#: States in which a task waits for a follow-up message.
WAITING: Final = frozenset({INPUT_REQUIRED, "TASK_STATE_AUTH_REQUIRED"})
_JSON_TYPE: Final = "application/json"


class RpcError(Exception):
    """Answered as a JSON-RPC error object (with HTTP 200, as A2A does)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_id() -> str:
    return str(uuid.uuid4())


async def call_handler(handler: Handler, request: TaskRequest) -> JSON:
    """A handler's answer, awaited if it is awaitable. An answer JSON cannot encode is the
    handler's bug: it raises here, as the handler's own exceptions do."""
    result = handler(request)
    if inspect.isawaitable(result):
        result = await result
    json.dumps(result)
    return result


@final
class A2ATask:
    """One A2A task as an agent keeps it, and what a waiter for it waits for.

    ``settled`` is set while the task is finished or waits for input; ``job`` is the work of a
    task answered before it was done (``returnImmediately``), cancelled with the task.
    """

    def __init__(self, *, name: str, context_id: str, user_message: Mapping[str, Any]) -> None:
        self.id = _new_id()
        self.name = name
        self.context_id = context_id
        self.state = SUBMITTED
        self.status_message: dict[str, Any] | None = None
        self.timestamp = _now()
        self.artifacts: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.settled = asyncio.Event()
        self.job: asyncio.Task[None] | None = None
        self.add_user_message(user_message)

    def add_user_message(self, message: Mapping[str, Any]) -> None:
        """The user's message goes to the history; after the agent's question, if it asked one,
        in the order things were said, as the SDK does."""
        if self.status_message is not None:
            self.history.append(self.status_message)
            self.status_message = None
        self.history.append({**message, "contextId": self.context_id, "taskId": self.id})

    def move(self, state: str, text: str | None = None) -> None:
        """Enter ``state``; the status message it replaces goes to the history, as the SDK does."""
        if self.status_message is not None:
            self.history.append(self.status_message)
        self.state = state
        self.timestamp = _now()
        self.status_message = None
        if text is not None:
            self.status_message = {
                "messageId": _new_id(),
                "contextId": self.context_id,
                "taskId": self.id,
                "role": "ROLE_AGENT",
                "parts": [{"text": text}],
            }
        if state in FINISHED or state in WAITING:
            self.settled.set()
        else:
            self.settled.clear()

    def add_artifact(self, answer: JSON) -> None:
        """``answer`` as the data part of a new artifact named after the task."""
        self.artifacts.append(
            {
                "artifactId": _new_id(),
                "name": self.name,
                "parts": [{"data": answer, "mediaType": _JSON_TYPE}],
            }
        )

    def complete(self, answer: JSON) -> None:
        self.add_artifact(answer)
        self.move(COMPLETED, "completed")

    async def run(
        self, handler: Handler, params: Mapping[str, str], *, log: logging.Logger, failure: str
    ) -> None:
        """Run ``handler`` on this task: COMPLETED with its answer, or FAILED with a
        :class:`TaskError`'s message, or ``Task failed: NAME`` for any other exception (logged
        as ``failure % name``). A task cancelled meanwhile stays cancelled."""
        try:
            result = await call_handler(handler, TaskRequest(task=self.name, params=params))
        except TaskError as exc:
            self.move(FAILED, exc.message)
            return
        except Exception:
            log.exception(failure, self.name)
            self.move(FAILED, f"Task failed: {self.name}")
            return
        if self.state == WORKING:
            self.complete(result)

    def to_json(self, history_length: int | None = None) -> dict[str, Any]:
        """The Task as the wire shows it (its artifacts and history shared, not copied)."""
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
@attrs.frozen
class TaskMessage:
    """A ``SendMessage`` as its task's :data:`Work` sees it."""

    text: str  #: the first text part (for a new task, its name)
    params: dict[str, str]  #: the first data part, each value a string (JSON text if it was not)
    wait: bool  #: False when the client asked to be answered at once (``returnImmediately``)
    follow_up: bool  #: a reply to a task that waited for input


#: What a message does to its task (already WORKING, and stored): the agent's own part of
#: ``SendMessage``. It returns the Task's JSON to answer with.
Work: TypeAlias = Callable[[A2ATask, TaskMessage], Awaitable[dict[str, Any]]]


@final
class A2ATaskBook:
    """One agent's tasks, by id, and the JSON-RPC methods that read and move them.

    ``cache_size``: past that many tasks, the oldest finished ones are forgotten (never live
    ones); ``None`` keeps every task.
    """

    def __init__(self, work: Work, *, cache_size: int | None = None) -> None:
        self._work = work
        self._cache_size = cache_size
        self._tasks: OrderedDict[str, A2ATask] = OrderedDict()

    def __iter__(self) -> Iterator[A2ATask]:
        return iter(list(self._tasks.values()))

    async def answer(self, raw: bytes, version: str) -> bytes:
        """The body of the JSON-RPC answer to the request body ``raw``."""
        request_id: object = None
        try:
            envelope = _envelope(raw)
            request_id = envelope.get("id")
            result = await self._dispatch(envelope, version)
        except RpcError as exc:
            return rpc_response(request_id, error=exc)
        return rpc_response(request_id, result=result)

    async def _dispatch(self, envelope: Mapping[str, Any], version: str) -> JSON:
        if version.strip().split(".")[0] != "1":
            raise RpcError(
                -32009,
                f"A2A version {version[:16]!r} is not supported by this agent. "
                "Expected version '1.0'.",
            )
        params = envelope.get("params")
        if not isinstance(params, dict):
            raise RpcError(-32602, "params must be an object")
        method = envelope.get("method")
        if method == "SendMessage":
            return await self._send_message(params)
        if method == "GetTask":
            return self._get_task(params)
        if method == "CancelTask":
            return self._cancel_task(params)
        raise RpcError(-32601, "Method not found")

    def _find(self, task_id: object) -> A2ATask:
        task = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise RpcError(-32001, "Task not found")
        return task

    def _get_task(self, params: Mapping[str, Any]) -> JSON:
        task = self._find(params.get("id"))
        length = params.get("historyLength")
        if length is not None and (type(length) is not int or length < 0):
            raise RpcError(-32602, "historyLength must be a whole number")
        return task.to_json(length)

    def _cancel_task(self, params: Mapping[str, Any]) -> JSON:
        task = self._find(params.get("id"))
        if task.state in FINISHED:
            raise RpcError(-32002, "Task cannot be canceled")
        if task.job is not None:
            task.job.cancel()
        task.move(CANCELED, "canceled by request")
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
            if task.state in FINISHED:
                raise RpcError(-32004, f"Task {task.id} is in terminal state: {task.state}")
            if task.state not in WAITING:
                raise RpcError(-32004, f"Task {task.id} is not waiting for input")
            task.add_user_message(message)
        else:
            context_id = message.get("contextId")
            task = A2ATask(
                name=text.strip(),
                context_id=context_id if isinstance(context_id, str) and context_id else _new_id(),
                user_message=message,
            )
            self._store(task)
        task.move(WORKING, "working")
        sent = TaskMessage(text=text, params=data, wait=wait, follow_up=bool(task_id))
        return {"task": await self._work(task, sent)}

    def _store(self, task: A2ATask) -> None:
        tasks = self._tasks
        tasks[task.id] = task
        if self._cache_size is None:
            return
        for _ in range(len(tasks)):  # each task looked at once at most
            if len(tasks) <= self._cache_size:
                return
            oldest_id, oldest = next(iter(tasks.items()))
            if oldest.state in FINISHED:
                del tasks[oldest_id]
            else:
                tasks.move_to_end(oldest_id)  # still running or waiting for input: kept


def rpc_response(
    request_id: object, *, result: JSON = None, error: RpcError | None = None
) -> bytes:
    """A JSON-RPC answer's body: ``result``, or the ``error`` object."""
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        answer["error"] = {"code": error.code, "message": error.message}
    else:
        answer["result"] = result
    return json.dumps(answer).encode()


def _envelope(raw: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(raw)
    except ValueError as exc:  # not UTF-8, or not JSON
        raise RpcError(-32700, f"Invalid JSON: {exc}") from None
    if not isinstance(envelope, dict) or envelope.get("jsonrpc") != "2.0":
        raise RpcError(-32600, "Not a JSON-RPC 2.0 request")
    return envelope


def _read_message(message: object) -> tuple[str, dict[str, str]]:
    """The task name (the first text part) and the params (the first data part, as strings)."""
    if not isinstance(message, dict):
        raise RpcError(-32602, "Validation failed: message is required")
    if not isinstance(message.get("messageId"), str) or not message["messageId"]:
        raise RpcError(-32602, "Validation failed: message.messageId is required")
    if message.get("role") != "ROLE_USER":
        raise RpcError(-32602, "Validation failed: message.role must be ROLE_USER")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RpcError(-32602, "Validation failed: message.parts must not be empty")
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    data = [p["data"] for p in parts if isinstance(p, dict) and "data" in p]
    if not texts or not texts[0].strip():
        raise RpcError(-32602, "Validation failed: the first text part names the task")
    if data and not isinstance(data[0], dict):
        raise RpcError(-32602, "Validation failed: the data part must hold an object")
    params = {
        str(k): v if isinstance(v, str) else json.dumps(v)
        for k, v in (data[0] if data else {}).items()
    }
    return texts[0], params
