"""A fake agent: scripted answers in the wire formats of both protocols, and no server at all.

:class:`FakeAgent` is what ``jamey_fake_agents.add(...)`` returns (:mod:`.fakes`). It answers each
request the connector makes as the reference agent (:mod:`.server`, :mod:`.a2a_server`) would,
from what the test scripted:

- what it does with a task, by task name, until scripted otherwise: :meth:`FakeAgent.answers`
  (a JSON answer; for A2A a COMPLETED Task whose artifact holds it), :meth:`FakeAgent.task` (A2A:
  a Task in any state), or a handler as ``jamey_agent_server`` takes them. A task nothing was
  scripted for is unknown: ``404 Unknown task: NAME`` (``jamey``), a REJECTED Task (A2A);
- what goes wrong with the next requests, before any of that: :meth:`FakeAgent.fails` (an error
  status), :meth:`FakeAgent.times_out`, :meth:`FakeAgent.disconnects`, :meth:`FakeAgent.responds`
  (any raw answer: a body that is not JSON, a redirect...), each ``times`` times or, with
  ``times=None``, until :meth:`FakeAgent.reset`.

Those scripts apply to the agent's task endpoint (``POST {url}/api/v1/tasks``; A2A's JSON-RPC
endpoint, whose ``SendMessage``, ``GetTask`` and ``CancelTask`` it serves); an A2A agent's card is
always served, so scripting a failure never breaks the registration. The key is checked as a real
agent checks it (a wrong one gets 401). Every request is recorded in :attr:`FakeAgent.requests`,
the key masked as ``***``.

Pure: :meth:`FakeAgent.answer` takes a request and gives a :class:`FakeReply`, or raises what
aiohttp raises when a real exchange ends that way (``TimeoutError``,
``aiohttp.ServerDisconnectedError``). :mod:`.fakes` hands it the requests through aioresponses.
"""

from __future__ import annotations

import copy
import datetime
import hmac
import http
import inspect
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias, final

import aiohttp
import attrs
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from jamey_agent_orchestration.model import AgentProtocol
from jamey_agent_orchestration.net.scrub import MASK, KeyScrubber
from jamey_agent_orchestration.testing.a2a_server import A2A_PATH, CARD_PATH
from jamey_agent_orchestration.testing.agents import RecordedRequest
from jamey_agent_orchestration.testing.server import (
    JSON,
    TASKS_PATH,
    Handler,
    TaskError,
    TaskRequest,
)

__all__ = ["TASK_STATES", "FakeAgent", "FakeReply"]

log = logging.getLogger(__name__)

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
_WORKING: Final = "TASK_STATE_WORKING"
_COMPLETED: Final = "TASK_STATE_COMPLETED"
_FAILED: Final = "TASK_STATE_FAILED"
_CANCELED: Final = "TASK_STATE_CANCELED"
_REJECTED: Final = "TASK_STATE_REJECTED"
_FINISHED: Final = frozenset({_COMPLETED, _FAILED, _CANCELED, _REJECTED})
_WAITING: Final = frozenset({"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"})
_JSON_TYPE: Final = "application/json"


@final
@attrs.frozen
class FakeReply:
    """An HTTP answer of a fake agent: what aioresponses hands the connector as the response."""

    status: int
    body: bytes = b""
    content_type: str = _JSON_TYPE
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def json(cls, document: object, status: int = 200, **headers: str) -> FakeReply:
        return cls(status, json.dumps(document).encode(), _JSON_TYPE, headers)


#: A scripted answer to the next request: a reply, or an exception a real exchange ends with.
_Misbehaviour: TypeAlias = Callable[[], FakeReply]


@final
@attrs.frozen
class _Outcome:
    """An A2A task scripted by :meth:`FakeAgent.task`: the state it ends in."""

    state: str
    message: str | None
    json: JSON


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@final
class _Task:
    """One A2A task as the fake keeps it (the shape the reference agent's tasks have)."""

    def __init__(self, *, name: str, context_id: str, user_message: Mapping[str, Any]) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.context_id = context_id
        self.state = "TASK_STATE_SUBMITTED"
        self.status_message: dict[str, Any] | None = None
        self.timestamp = _now()
        self.artifacts: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.add_user_message(user_message)

    def add_user_message(self, message: Mapping[str, Any]) -> None:
        if self.status_message is not None:  # the agent's question comes before the answer
            self.history.append(self.status_message)
            self.status_message = None
        self.history.append({**message, "contextId": self.context_id, "taskId": self.id})

    def move(self, state: str, text: str | None = None) -> None:
        """Enter ``state``; the status message it replaces goes to the history."""
        if self.status_message is not None:
            self.history.append(self.status_message)
        self.state = state
        self.timestamp = _now()
        self.status_message = None
        if text is not None:
            self.status_message = {
                "messageId": str(uuid.uuid4()),
                "contextId": self.context_id,
                "taskId": self.id,
                "role": "ROLE_AGENT",
                "parts": [{"text": text}],
            }

    def add_artifact(self, answer: JSON) -> None:
        self.artifacts.append(
            {
                "artifactId": str(uuid.uuid4()),
                "name": self.name,
                "parts": [{"data": answer, "mediaType": _JSON_TYPE}],
            }
        )

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
        return copy.deepcopy(shown)


class _RpcError(Exception):
    """Answered as a JSON-RPC error object, with HTTP 200 as A2A does."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


@final
class FakeAgent:
    """One scripted agent at ``url``; see the module docstring. Made by ``jamey_fake_agents``.

    ``agent_id``, ``name``, ``api_key``, ``protocol`` and ``skills`` are what it is registered
    with (by ``jamey_fake_agents.runtime()``, when ``auto_register``). ``requests`` is every
    request it received, a :class:`RecordedRequest` each as ``jamey_agent_server`` records them,
    the key shown as ``***``. ``tasks`` holds the JSON of each A2A Task it made, by id.
    """

    def __init__(
        self,
        *,
        url: yarl.URL,
        agent_id: str,
        protocol: AgentProtocol,
        name: str,
        api_key: str,
        skills: Iterable[str] = (),
        handlers: Mapping[str, Handler] | None = None,
        auto_register: bool = True,
    ) -> None:
        if protocol not in ("jamey", "a2a"):
            raise ValueError(f"protocol must be 'jamey' or 'a2a', got {protocol!r}")
        if not api_key:
            raise ValueError("api_key cannot be empty")
        self.url = url
        self.agent_id = agent_id
        self.protocol: AgentProtocol = protocol
        self.name = name
        self.api_key = api_key
        self.skills = tuple(skills)
        self.auto_register = auto_register
        self.requests: list[RecordedRequest] = []
        self._expected = f"Bearer {api_key}".encode()
        self._scripts: dict[str | None, Handler | _Outcome] = {"health_check": self._healthy}
        self._scripts.update(handlers or {})
        self._queue: deque[_Misbehaviour] = deque()
        self._standing: _Misbehaviour | None = None
        self._tasks: dict[str, _Task] = {}

    def __repr__(self) -> str:
        return f"<FakeAgent {self.agent_id!r} ({self.protocol}) at {self.url}>"

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        """The A2A tasks this agent made, by id: each Task's JSON as ``GetTask`` answers it."""
        return {task_id: task.to_json() for task_id, task in self._tasks.items()}

    # -- what it does with a task ---------------------------------------------------------------

    def answers(self, task: str | None = None, /, *, json: JSON) -> None:
        """Answer the task named ``task`` (every task, without a name) with ``json``.

        ``jamey``: ``200`` with that JSON. A2A: a COMPLETED Task, ``json`` as the data part of its
        artifact (what the reference agent makes of a handler's answer).
        """
        answer = copy.deepcopy(json)

        def handler(request: TaskRequest) -> JSON:
            return copy.deepcopy(answer)

        self._scripts[task] = handler

    def task(
        self,
        task: str | None = None,
        /,
        *,
        state: str,
        message: str | None = None,
        json: JSON = None,
    ) -> None:
        """A2A: answer the task named ``task`` (every task, without a name) with a Task in
        ``state``.

        ``message`` is the Task's status message (``"card declined"``); ``json``, if given, the
        data part of its artifact. The answer comes at once, whatever the state: a Task left
        ``TASK_STATE_WORKING`` is a task still running (``GetTask`` sees it so, ``CancelTask``
        cancels it); an agent that never answers is :meth:`times_out`.
        """
        if self.protocol != "a2a":
            raise ValueError(
                f"task() scripts an A2A Task; the jamey agent {self.agent_id!r} answers JSON: "
                "use answers() or fails()"
            )
        if state not in TASK_STATES:
            raise ValueError(f"state must be one of {', '.join(TASK_STATES)}; got {state!r}")
        self._scripts[task] = _Outcome(state, message, copy.deepcopy(json))

    # -- what goes wrong with the next requests -------------------------------------------------

    def fails(
        self,
        status: int = 503,
        *,
        times: int | None = 1,
        retry_after: int | str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` task requests with an error ``status`` (4xx or 5xx).

        The body is the agent's error message (default: the status's reason phrase, as the
        reference agent says ``Unauthorized`` for a 401): ``{"error": message}`` (``jamey``),
        ``{"error": {"code": status, "message": message}}`` (A2A). ``retry_after`` is sent as
        ``Retry-After`` (seconds, or an HTTP date). ``times=None``: every request until
        :meth:`reset`.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"fails() takes a 4xx or 5xx status, got {status}; see responds()")
        said = _phrase(status) if message is None else message
        headers: dict[str, str] = {}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        document: object = {"error": said}
        if self.protocol == "a2a":
            document = {"error": {"code": status, "message": said}}
        reply = FakeReply.json(document, status, **headers)
        self._script(lambda: reply, times)

    def times_out(self, *, times: int | None = 1) -> None:
        """Let the next ``times`` task requests time out (at once: the connector reports the
        timeout it was given, ``timed out after 30s``). ``times=None``: until :meth:`reset`."""

        def timeout() -> FakeReply:
            raise TimeoutError  # what aiohttp raises when a request's total timeout passes

        self._script(timeout, times)

    def disconnects(self, *, times: int | None = 1) -> None:
        """Close the connection on the next ``times`` task requests, with no answer."""

        def disconnect() -> FakeReply:
            raise aiohttp.ServerDisconnectedError

        self._script(disconnect, times)

    def responds(
        self,
        *,
        status: int = 200,
        body: bytes | str = b"",
        content_type: str = "application/octet-stream",
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` task requests with this raw HTTP answer (a body that is not
        JSON, a redirect with its ``Location``, an A2A answer of the wrong shape...)."""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        reply = FakeReply(status, raw, content_type, dict(headers or {}))
        self._script(lambda: reply, times)

    def reset(self) -> None:
        """Forget what :meth:`fails`, :meth:`times_out`, :meth:`disconnects` and :meth:`responds`
        scripted (the task answers and the recorded requests stay)."""
        self._queue.clear()
        self._standing = None

    def _script(self, misbehaviour: _Misbehaviour, times: int | None) -> None:
        if times is None:
            self._standing = misbehaviour
            return
        if times < 1:
            raise ValueError(f"times must be at least 1 (or None: until reset()), got {times}")
        self._queue.extend([misbehaviour] * times)

    # -- answering a request ------------------------------------------------------------------

    async def answer(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], body: bytes | None
    ) -> FakeReply:
        """Record the request, then answer it as scripted (see the module docstring)."""
        raw = body or b""
        self._record(method, url, headers, raw)
        path = url.path.removeprefix(self.url.path.rstrip("/"))
        if self.protocol == "a2a" and method == "GET" and path == CARD_PATH:
            return FakeReply.json(self._card())
        endpoint = A2A_PATH if self.protocol == "a2a" else TASKS_PATH
        if method != "POST" or path != endpoint:
            return FakeReply(404, b"404: Not Found", "text/plain")
        misbehaviour = self._queue.popleft() if self._queue else self._standing
        if misbehaviour is not None:
            return misbehaviour()
        supplied = headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(supplied, self._expected):
            return self._unauthorized()
        if self.protocol == "a2a":
            return await self._rpc(raw, headers.get("A2A-Version", "0.3"))
        return await self._jamey(raw)

    def _record(self, method: str, url: yarl.URL, headers: Mapping[str, str], raw: bytes) -> None:
        scrubber = KeyScrubber(self.api_key)
        shown: CIMultiDict[str] = CIMultiDict()
        for name, value in headers.items():
            if name.lower() == "authorization":
                scheme, _, credential = value.partition(" ")
                value = f"{scheme} {MASK}" if credential else MASK
            shown.add(name, scrubber.text(value))
        try:
            text = raw.decode()
            parsed: Any = json.loads(text)
        except ValueError:  # not UTF-8, or not JSON: kept as text, as jamey_agent_server does
            recorded: Any = scrubber.text(raw.decode("utf-8", "replace"))
        else:
            recorded, _ = scrubber.document(parsed, text)
        self.requests.append(
            RecordedRequest(
                method=method,
                path=url.path,
                headers=CIMultiDictProxy(shown),
                body=recorded,
                idempotency_key=headers.get("Idempotency-Key"),
            )
        )

    def _unauthorized(self) -> FakeReply:
        if self.protocol == "a2a":
            error: object = {"code": 401, "status": "UNAUTHENTICATED", "message": "Unauthorized"}
        else:
            error = "Unauthorized"
        return FakeReply.json({"error": error}, 401, **{"WWW-Authenticate": "Bearer"})

    def _healthy(self, request: TaskRequest) -> JSON:
        return {"status": "healthy", "agent": self.name}

    async def _run(self, script: Handler, request: TaskRequest) -> JSON:
        """A handler's answer; :class:`TaskError` and any other exception pass through."""
        result = script(request)
        if inspect.isawaitable(result):
            result = await result
        json.dumps(result)  # an answer JSON cannot encode is the handler's bug: it raises here
        return result

    # -- the jamey protocol ---------------------------------------------------------------------

    async def _jamey(self, raw: bytes) -> FakeReply:
        try:
            task, params = _jamey_body(raw)
        except ValueError as exc:
            return FakeReply.json({"error": str(exc)}, 400)
        script = self._scripts.get(task, self._scripts.get(None))
        if script is None:
            return FakeReply.json({"error": f"Unknown task: {task}"}, 404)
        assert not isinstance(script, _Outcome)  # task() is refused for a jamey agent
        try:
            result = await self._run(script, TaskRequest(task=task, params=params))
        except TaskError as exc:
            return FakeReply.json({"error": exc.message}, exc.status)
        except Exception:
            log.exception("Fake agent task %r failed", task)
            return FakeReply.json({"error": f"Task failed: {task}"}, 500)
        return FakeReply.json(result)

    # -- A2A ------------------------------------------------------------------------------------

    def _card(self) -> dict[str, Any]:
        base = str(self.url).rstrip("/")
        return {
            "name": self.name,
            "description": f"A fake agent {self.name!r} (jamey_fake_agents).",
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
            "defaultInputModes": ["text/plain", _JSON_TYPE],
            "defaultOutputModes": [_JSON_TYPE],
            "skills": [
                {"id": skill, "name": skill, "description": f"The skill {skill!r}.", "tags": []}
                for skill in self.skills
            ],
        }

    async def _rpc(self, raw: bytes, version: str) -> FakeReply:
        request_id: object = None
        try:
            envelope = _envelope(raw)
            request_id = envelope.get("id")
            result = await self._dispatch(envelope, version)
        except _RpcError as exc:
            answer = {"error": {"code": exc.code, "message": exc.message}}
            return FakeReply.json({"jsonrpc": "2.0", "id": request_id, **answer})
        return FakeReply.json({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _dispatch(self, envelope: Mapping[str, Any], version: str) -> JSON:
        if version.strip().split(".")[0] != "1":
            raise _RpcError(
                -32009,
                f"A2A version {version[:16]!r} is not supported by this agent. "
                "Expected version '1.0'.",
            )
        params = envelope.get("params")
        if not isinstance(params, dict):
            raise _RpcError(-32602, "params must be an object")
        method = envelope.get("method")
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
        task.move(_CANCELED, "canceled by request")
        return task.to_json()

    async def _send_message(self, params: Mapping[str, Any]) -> JSON:
        message = params.get("message")
        text, data = _read_message(message)
        assert isinstance(message, dict)
        configuration = params.get("configuration") or {}
        wait = not (isinstance(configuration, dict) and configuration.get("returnImmediately"))
        task_id = message.get("taskId")
        if task_id:  # a follow-up to a task that asked for input: its name's script goes on
            task = self._find(task_id)
            if task.state in _FINISHED:
                raise _RpcError(-32004, f"Task {task.id} is in terminal state: {task.state}")
            if task.state not in _WAITING:
                raise _RpcError(-32004, f"Task {task.id} is not waiting for input")
            task.add_user_message(message)
        else:
            context_id = message.get("contextId")
            task = _Task(
                name=text.strip(),
                context_id=context_id if isinstance(context_id, str) and context_id else _id(),
                user_message=message,
            )
            self._tasks[task.id] = task
        task.move(_WORKING, "working")
        snapshot = task.to_json()
        await self._settle(task, data)
        # Without waiting, the agent answers while it works; the outcome is what GetTask sees.
        return {"task": task.to_json() if wait else snapshot}

    async def _settle(self, task: _Task, data: dict[str, str]) -> None:
        """Move ``task`` to the outcome its name's script gives."""
        script = self._scripts.get(task.name, self._scripts.get(None))
        if script is None:
            task.move(_REJECTED, f"Unknown task: {task.name}")
            return
        if isinstance(script, _Outcome):
            if script.json is not None:
                task.add_artifact(copy.deepcopy(script.json))
            if script.state != _WORKING or script.message is not None:
                task.move(script.state, script.message)
            return
        try:
            result = await self._run(script, TaskRequest(task=task.name, params=data))
        except TaskError as exc:
            task.move(_FAILED, exc.message)
            return
        except Exception:
            log.exception("Fake agent task %r failed", task.name)
            task.move(_FAILED, f"Task failed: {task.name}")
            return
        task.add_artifact(result)
        task.move(_COMPLETED, "completed")


def _id() -> str:
    return str(uuid.uuid4())


def _jamey_body(raw: bytes) -> tuple[str, dict[str, str]]:
    """``{"task": str, "params": {str: str}}``, as the reference agent checks it."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("Invalid JSON body") from None
    if not isinstance(body, dict):
        raise ValueError("Body must be a JSON object")
    task = body.get("task")
    if not isinstance(task, str) or not task:
        raise ValueError("Missing task")
    params = body.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise ValueError("params must be an object of strings")
    return task, params


def _envelope(raw: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(raw)
    except ValueError as exc:
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
    params = {
        str(k): v if isinstance(v, str) else json.dumps(v)
        for k, v in (data[0] if data else {}).items()
    }
    return texts[0], params
