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
import http
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias, final

import aiohttp
import attrs
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from jamey_agent_orchestration.model import AgentProtocol
from jamey_agent_orchestration.net.scrub import MASK, KeyScrubber
from jamey_agent_orchestration.testing.a2a_server import A2A_PATH, CARD_PATH, agent_card
from jamey_agent_orchestration.testing.a2a_tasks import (
    REJECTED,
    TASK_STATES,
    WORKING,
    A2ATask,
    A2ATaskBook,
    TaskMessage,
    call_handler,
)
from jamey_agent_orchestration.testing.agents import RecordedRequest
from jamey_agent_orchestration.testing.server import (
    JSON,
    TASKS_PATH,
    BearerKey,
    Handler,
    TaskError,
    TaskRequest,
    parse_task_body,
    with_health_check,
)

__all__ = ["TASK_STATES", "FakeAgent", "FakeReply"]

log = logging.getLogger(__name__)

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
        self._key = BearerKey(api_key)
        self._scripts: dict[str | None, Handler | _Outcome] = {}
        self._scripts.update(with_health_check(name, handlers or {}))
        self._queue: deque[_Misbehaviour] = deque()
        self._standing: _Misbehaviour | None = None
        self._tasks = A2ATaskBook(self._work)

    def __repr__(self) -> str:
        return f"<FakeAgent {self.agent_id!r} ({self.protocol}) at {self.url}>"

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        """The A2A tasks this agent made, by id: each Task's JSON as ``GetTask`` answers it."""
        return {task.id: copy.deepcopy(task.to_json()) for task in self._tasks}

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
        if not self._key.accepts(headers):
            return self._unauthorized()
        if self.protocol == "a2a":
            return FakeReply(200, await self._tasks.answer(raw, headers.get("A2A-Version", "0.3")))
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

    # -- the jamey protocol ---------------------------------------------------------------------

    async def _jamey(self, raw: bytes) -> FakeReply:
        try:
            task, params = parse_task_body(raw)
        except ValueError as exc:
            return FakeReply.json({"error": str(exc)}, 400)
        script = self._scripts.get(task, self._scripts.get(None))
        if script is None:
            return FakeReply.json({"error": f"Unknown task: {task}"}, 404)
        assert not isinstance(script, _Outcome)  # task() is refused for a jamey agent
        try:
            result = await call_handler(script, TaskRequest(task=task, params=params))
        except TaskError as exc:
            return FakeReply.json({"error": exc.message}, exc.status)
        except Exception:
            log.exception("Fake agent task %r failed", task)
            return FakeReply.json({"error": f"Task failed: {task}"}, 500)
        return FakeReply.json(result)

    # -- A2A ------------------------------------------------------------------------------------

    def _card(self) -> dict[str, Any]:
        return agent_card(
            name=self.name,
            description=f"A fake agent {self.name!r} (jamey_fake_agents).",
            base_url=str(self.url).rstrip("/"),
            skills=[(skill, f"The skill {skill!r}.") for skill in self.skills],
        )

    async def _work(self, task: A2ATask, message: TaskMessage) -> dict[str, Any]:
        """What a message does here: its task's name's script (a follow-up's too) settles it."""
        snapshot = copy.deepcopy(task.to_json())
        await self._settle(task, message.params)
        # Without waiting, the agent answers while it works; the outcome is what GetTask sees.
        return task.to_json() if message.wait else snapshot

    async def _settle(self, task: A2ATask, data: dict[str, str]) -> None:
        """Move ``task`` to the outcome its name's script gives."""
        script = self._scripts.get(task.name, self._scripts.get(None))
        if script is None:
            task.move(REJECTED, f"Unknown task: {task.name}")
            return
        if isinstance(script, _Outcome):
            if script.json is not None:
                task.add_artifact(copy.deepcopy(script.json))
            if script.state != WORKING or script.message is not None:
                task.move(script.state, script.message)
            return
        await task.run(script, data, log=log, failure="Fake agent task %r failed")
