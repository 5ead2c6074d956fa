"""Traces and metrics of the connector's requests to agents, through OpenTelemetry when installed.

The connector's only module that imports OpenTelemetry, and only its API (``opentelemetry-api``,
the extra ``jamey-agent-orchestration[otel]``); without it nothing is imported and every object
below does nothing. No SDK, exporter or provider is ever set here: the host application does that.

What is recorded, and nothing more:

* ``invoke_agent {agent_id}``, a client span per request attempt (a retry is a span of its own),
  following the GenAI conventions (``gen_ai.operation.name=invoke_agent``, ``gen_ai.agent.id``,
  ``gen_ai.agent.name``) plus ``server.address``, ``server.port``, ``jamey.agent.protocol``,
  ``http.request.resend_count`` on retries, ``http.response.status_code``, ``error.type``, and the
  A2A task's ``jamey.a2a.task_id`` and ``jamey.a2a.task_state`` when there is one;
* ``fetch_agent_card {agent_id}``, a client span per agent card fetch attempt (a registration's,
  or an A2A agent's health check);
* ``broadcast``, with a ``deliver_task {agent_id}`` child per agent, the attempts under that;
* the metrics ``jamey.agent.requests`` (per attempt: ``gen_ai.agent.id``, ``jamey.outcome``) and
  ``jamey.agent.circuit_open`` (+1 when an agent's breaker opens, -1 when it closes again).

Every request carries the W3C ``traceparent``/``tracestate`` of its own span
(:meth:`AttemptSpan.with_trace_headers`), so an agent that traces joins the caller's trace;
:func:`incoming_trace_middleware` lets an aiohttp agent (the reference agent) continue it.

Nothing is kept per agent: an agent's :class:`AgentTarget` and its spans' attribute sets are made
for each request, and ``jamey.agent.requests`` is a plain counter, whose series per agent the SDK
keeps when one is installed (the host's choice), not this module.

The connector records from four places only: ``RequestSender._attempt`` (every attempt of every
request, both protocols and card fetches; the protocol clients name each request's agent with
:func:`agent_target`), ``Deliverer.deliver_all`` (a broadcast and its deliveries), the breakers'
callbacks (``delivery.count_transition``, ``count_forgotten``) and the reference agent's
applications (``testing.server.traced``).

Secrets cannot get in through this interface: an agent is described by an :class:`AgentTarget`,
which keeps only the id, the name, the protocol and the URL's host and port (never its user-info,
path or query); the rest are numbers, enum members and the connector's own safe error messages.
Exceptions are recorded by type name only, since the text of aiohttp's can carry request headers.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Final, Literal, Self, TypeAlias, final

import yarl

from jamey_host import tracing_active

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, propagate, trace
except ImportError:  # the optional extra is not installed: every call below is a no-op
    ENABLED = False
else:
    ENABLED = True

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Middleware
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, SpanKind

__all__ = [
    "ENABLED",
    "AgentProtocol",
    "AgentTarget",
    "AttemptSpan",
    "BroadcastSpan",
    "DeliverySpan",
    "agent_target",
    "circuit_changed",
    "incoming_trace_middleware",
    "start_attempt",
    "start_broadcast",
    "start_card_fetch",
    "start_delivery",
]

AgentProtocol: TypeAlias = Literal["jamey", "a2a"]

_OPERATION: Final = "gen_ai.operation.name"
_AGENT_ID: Final = "gen_ai.agent.id"
_AGENT_NAME: Final = "gen_ai.agent.name"
_SERVER_ADDRESS: Final = "server.address"
_SERVER_PORT: Final = "server.port"
_PROTOCOL: Final = "jamey.agent.protocol"
_RESEND_COUNT: Final = "http.request.resend_count"
_STATUS_CODE: Final = "http.response.status_code"
_ERROR_TYPE: Final = "error.type"
_TASK_ID: Final = "jamey.a2a.task_id"
_TASK_STATE: Final = "jamey.a2a.task_state"
_OUTCOME: Final = "jamey.outcome"
_BROADCAST_AGENTS: Final = "jamey.broadcast.agents"
_BROADCAST_SUCCEEDED: Final = "jamey.broadcast.succeeded"
_BROADCAST_FAILED: Final = "jamey.broadcast.failed"
_DELIVERY_ATTEMPTS: Final = "jamey.delivery.attempts"

_OTHER_ERROR: Final = "_OTHER"  # the conventions' value when nothing more precise is known
# Any other method a client sends is recorded as _OTHER, as the HTTP conventions ask.
_HTTP_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
_MAX_TASK_ID: Final = 256  # an id longer than this is an agent stuffing data into it: not recorded
# The A2A task states (v1.0 names, and the v0.3 ones); any other value is recorded as "other",
# since the state comes from the agent and is no place for free text to reach a trace.
_TASK_STATES: Final = frozenset(
    {
        "TASK_STATE_UNSPECIFIED",
        "TASK_STATE_SUBMITTED",
        "TASK_STATE_WORKING",
        "TASK_STATE_COMPLETED",
        "TASK_STATE_FAILED",
        "TASK_STATE_CANCELED",
        "TASK_STATE_INPUT_REQUIRED",
        "TASK_STATE_REJECTED",
        "TASK_STATE_AUTH_REQUIRED",
        "submitted",
        "working",
        "input-required",
        "completed",
        "canceled",
        "failed",
        "rejected",
        "auth-required",
        "unknown",
    }
)


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("jamey-agent-orchestration")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return ""


if ENABLED:
    _VERSION = _version()
    _tracer = trace.get_tracer(__name__, _VERSION)
    _meter = metrics.get_meter(__name__, _VERSION)
    _requests = _meter.create_counter(
        "jamey.agent.requests",
        unit="{request}",
        description="Requests sent to agents (one per attempt), by outcome",
    )
    _circuits_open = _meter.create_up_down_counter(
        "jamey.agent.circuit_open",
        unit="{circuit}",
        description="Agents whose circuit breaker is open or half-open",
    )


@final
class AgentTarget:
    """What telemetry may say about one agent. Build it with :func:`agent_target`.

    Its id, name, protocol and URL, of which spans record the host and port only (read when a
    span describes it). Small, and made for each request, as its spans' attribute sets are:
    telemetry keeps nothing per agent (a registry of 100,000 agents costs no more with it).
    """

    __slots__ = ("_url", "agent_id", "agent_name", "protocol")

    def __init__(
        self, agent_id: str, agent_name: str | None, url: yarl.URL, protocol: AgentProtocol
    ) -> None:
        self.agent_id = agent_id
        self.agent_name = agent_name
        self._url = url
        self.protocol = protocol

    @property
    def host(self) -> str:
        return self._url.host or ""

    @property
    def port(self) -> int:
        return self._url.port or 0

    def __repr__(self) -> str:
        return f"AgentTarget({self.agent_id!r})"

    def _agent(self) -> dict[str, str | int]:
        attributes: dict[str, str | int] = {_AGENT_ID: self.agent_id}
        if self.agent_name is not None:  # a registration from a card: the name comes with it
            attributes[_AGENT_NAME] = self.agent_name
        return attributes

    def _request(self, resend_count: int) -> dict[str, str | int]:
        """A request's attributes: the agent, where it is, and which retry this is."""
        attributes = self._agent()
        attributes[_SERVER_ADDRESS] = self.host
        attributes[_SERVER_PORT] = self.port
        attributes[_PROTOCOL] = self.protocol
        if resend_count:
            attributes[_RESEND_COUNT] = resend_count
        return attributes


def agent_target(
    agent_id: str, agent_name: str | None, url: str | yarl.URL, protocol: AgentProtocol
) -> AgentTarget:
    """The telemetry view of one agent: of ``url`` only the host and port are ever recorded.

    ``agent_name`` is ``None`` while it is not known yet (an A2A registration names the agent
    from its card). Without OpenTelemetry, a shared object that records nothing.
    """
    if not ENABLED:
        return _NO_TARGET
    parsed = yarl.URL(url) if isinstance(url, str) else url
    return AgentTarget(agent_id, agent_name, parsed, protocol)


_NO_TARGET: Final = AgentTarget("", None, yarl.URL(), "jamey")


class _SpanScope:
    """A span made current in the calling task until it ends (in that same task)."""

    __slots__ = ("_open", "_span", "_token")

    def __init__(self, span: Span | None, *, recording: bool = True) -> None:
        self._open = recording  # False: the shared object handed out without OpenTelemetry
        self._span = span  # None: no tracer provider (an invalid span), record metrics only
        self._token: Token[Context] | None = None
        if span is not None:
            self._token = otel_context.attach(trace.set_span_in_context(span))

    def _close(self) -> Span | None:
        """Mark this ended; the span to finish and end, if there is one."""
        self._open = False
        span, self._span = self._span, None
        if span is not None and self._token is not None:
            otel_context.detach(self._token)
        return span

    def _abandon(self, reason: str) -> None:
        """Ended by an exception (or by leaving the ``with`` without :meth:`end`)."""
        span = self._close()
        if span is not None:
            _fail(span, reason, reason)
            span.end()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._open:
            self._abandon(_OTHER_ERROR if exc_type is None else exc_type.__qualname__)


class _ClientSpan(_SpanScope):
    """A request to an agent: its span's context goes with it in the W3C headers."""

    __slots__ = ()

    def with_trace_headers(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """``headers`` plus ``traceparent`` (and ``tracestate``) of this span, in a new dict.

        ``headers`` itself when nothing is traced: no copy is made then.
        """
        span = self._span
        if span is None:
            return headers
        carrier = dict(headers)
        propagate.inject(carrier, trace.set_span_in_context(span))
        return carrier

    def _finish(
        self,
        span: Span,
        ok: bool,
        status: int | None,
        failure: enum.Enum | None,
        error: str | None,
    ) -> None:
        if span.is_recording():
            if status is not None:
                span.set_attribute(_STATUS_CODE, status)
            if not ok:
                _fail(span, _OTHER_ERROR if failure is None else str(failure.value), error)
        span.end()


@final
class AttemptSpan(_ClientSpan):
    """One request attempt to an agent: ``invoke_agent {agent_id}`` (:func:`start_attempt`), or
    ``fetch_agent_card {agent_id}`` (:func:`start_card_fetch`). :meth:`end` it, or use it as a
    context manager around the request so that a cancelled attempt is ended too.
    """

    __slots__ = ("_counted",)

    def __init__(
        self, counted: AgentTarget | None, span: Span | None, *, recording: bool = True
    ) -> None:
        super().__init__(span, recording=recording)
        self._counted = counted  # the agent whose jamey.agent.requests this adds to, if any

    def end(
        self,
        *,
        ok: bool,
        status: int | None = None,
        failure: enum.Enum | None = None,
        error: str | None = None,
        task_id: str | None = None,
        task_state: str | None = None,
    ) -> None:
        """Record the attempt's outcome: ``ok``, the HTTP ``status`` if one came back, and for a
        failure its kind (a ``FailureKind``: its value becomes ``error.type``) and the connector's
        own safe ``error`` message; for an A2A answer, the task's id and state.
        """
        if not self._open:
            return
        self._count(ok)
        span = self._close()
        if span is None:
            return
        if span.is_recording():
            if task_id is not None and len(task_id) <= _MAX_TASK_ID:
                span.set_attribute(_TASK_ID, task_id)
            if task_state is not None:
                span.set_attribute(
                    _TASK_STATE, task_state if task_state in _TASK_STATES else "other"
                )
        self._finish(span, ok, status, failure, error)

    def _abandon(self, reason: str) -> None:
        self._count(False)  # the request went out (or was about to): it counts, as a failure
        super()._abandon(reason)

    def _count(self, ok: bool) -> None:
        target = self._counted
        if target is not None:
            outcome = "success" if ok else "failure"
            _requests.add(1, {_AGENT_ID: target.agent_id, _OUTCOME: outcome})


@final
class DeliverySpan(_SpanScope):
    """One agent's delivery in a broadcast (``deliver_task {agent_id}``), its attempts under it."""

    __slots__ = ()

    def end(
        self,
        *,
        ok: bool,
        attempts: int,
        failure: enum.Enum | None = None,
        error: str | None = None,
    ) -> None:
        """Record whether the delivery succeeded, after how many requests, and for a failure its
        kind (``error.type``) and safe error."""
        if not self._open:
            return
        span = self._close()
        if span is None:
            return
        if span.is_recording():
            span.set_attribute(_DELIVERY_ATTEMPTS, attempts)
            if not ok:
                _fail(span, _OTHER_ERROR if failure is None else str(failure.value), error)
        span.end()


@final
class BroadcastSpan(_SpanScope):
    """One broadcast (``broadcast``): see :func:`start_broadcast`."""

    __slots__ = ()

    def end(self, *, succeeded: int, failed: int) -> None:
        """Record how many deliveries succeeded and failed."""
        if not self._open:
            return
        span = self._close()
        if span is None:
            return
        if span.is_recording():
            span.set_attribute(_BROADCAST_SUCCEEDED, succeeded)
            span.set_attribute(_BROADCAST_FAILED, failed)
        span.end()


_NO_ATTEMPT: Final = AttemptSpan(None, None, recording=False)
_NO_DELIVERY: Final = DeliverySpan(None, recording=False)
_NO_BROADCAST: Final = BroadcastSpan(None, recording=False)


def start_attempt(target: AgentTarget, *, resend_count: int = 0) -> AttemptSpan:
    """Open the span of one attempt of a request to ``target`` (a task or a task query), make it
    current, and count the attempt in ``jamey.agent.requests`` when it ends.

    ``resend_count`` is 0 for the first attempt, 1 for the first retry, and so on.
    """
    if not ENABLED:
        return _NO_ATTEMPT
    if not tracing_active():  # counted, and nothing to trace
        return AttemptSpan(target, None)
    attributes = target._request(resend_count)
    attributes[_OPERATION] = "invoke_agent"
    return AttemptSpan(target, _start(f"invoke_agent {target.agent_id}", _CLIENT, attributes))


def start_card_fetch(target: AgentTarget, *, resend_count: int = 0) -> AttemptSpan:
    """Open the span of one attempt to fetch ``target``'s agent card and make it current.

    Not a task: it is not counted in ``jamey.agent.requests``.
    """
    if not ENABLED or not tracing_active():
        return _NO_ATTEMPT
    attributes = target._request(resend_count)
    return AttemptSpan(None, _start(f"fetch_agent_card {target.agent_id}", _CLIENT, attributes))


def start_broadcast(*, agents: int) -> BroadcastSpan:
    """Open the span of a broadcast to ``agents`` agents and make it current.

    Start the deliveries' tasks while it is current: a task copies the context it is created in.
    """
    if not ENABLED or not tracing_active():
        return _NO_BROADCAST
    return BroadcastSpan(_start("broadcast", _INTERNAL, {_BROADCAST_AGENTS: agents}))


def start_delivery(target: AgentTarget) -> DeliverySpan:
    """Open the span of one broadcast delivery to ``target`` and make it current."""
    if not ENABLED or not tracing_active():
        return _NO_DELIVERY
    attributes = target._agent()
    attributes[_PROTOCOL] = target.protocol
    return DeliverySpan(_start(f"deliver_task {target.agent_id}", _INTERNAL, attributes))


def circuit_changed(agent_id: str, *, was_open: bool, is_open: bool) -> None:
    """Count an agent's breaker in ``jamey.agent.circuit_open`` when it opens or closes.

    Half-open counts as open. Also call it (``is_open=False``) when an agent whose breaker is open
    is forgotten, so that the count comes down again.
    """
    if ENABLED and was_open != is_open:
        _circuits_open.add(1 if is_open else -1, {_AGENT_ID: agent_id})


def incoming_trace_middleware() -> Middleware:
    """An aiohttp middleware continuing the caller's W3C trace in a server span per request.

    The span is named ``{method} {route}`` (``HTTP`` when no route matched) and records the
    method, the route and the response status only (never a header, the path or the body).
    Without OpenTelemetry, a middleware that just calls the handler.
    """
    from aiohttp import web

    if not ENABLED:

        @web.middleware
        async def untraced(request: web.Request, handler: _Handler) -> web.StreamResponse:
            return await handler(request)

        return untraced

    @web.middleware
    async def continue_trace(request: web.Request, handler: _Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = None if resource is None else resource.canonical  # the pattern, not the values
        method = request.method if request.method in _HTTP_METHODS else _OTHER_ERROR
        attributes: dict[str, str | int] = {"http.request.method": method}
        if route is not None:
            attributes["http.route"] = route
        span = _tracer.start_span(
            "HTTP" if route is None else f"{method} {route}",
            context=propagate.extract(request.headers),
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                _record_server_status(span, exc.status)
                raise
            except BaseException as exc:
                _fail(span, type(exc).__qualname__, type(exc).__qualname__)
                raise
            _record_server_status(span, response.status)
            return response

    return continue_trace


_Handler: TypeAlias = Callable[["web.Request"], Awaitable["web.StreamResponse"]]

if ENABLED:
    _CLIENT: Final = trace.SpanKind.CLIENT
    _INTERNAL: Final = trace.SpanKind.INTERNAL


def _start(name: str, kind: SpanKind, attributes: Mapping[str, str | int]) -> Span | None:
    """A span under the current context; ``None`` when no tracer provider makes a valid one.

    Its attributes are given at its start, so that a sampler sees them (the conventions ask it
    of the GenAI and server attributes).
    """
    span = _tracer.start_span(name, kind=kind, attributes=attributes)
    return span if span.get_span_context().is_valid else None


def _fail(span: Span, error_type: str, description: str | None) -> None:
    span.set_attribute(_ERROR_TYPE, error_type)
    span.set_status(trace.StatusCode.ERROR, description)


def _record_server_status(span: Span, status: int) -> None:
    span.set_attribute(_STATUS_CODE, status)
    if status >= 500:  # a 4xx is the client's error, not the server span's (HTTP conventions)
        span.set_status(trace.StatusCode.ERROR)
        span.set_attribute(_ERROR_TYPE, str(status))
