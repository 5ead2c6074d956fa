"""Traces and metrics of ``execute_connector`` calls, through OpenTelemetry when it is installed.

The only module of jamey_host that imports OpenTelemetry, and only its API (the optional extra
``jamey-host[otel]``); without it nothing is imported and :func:`start_call` hands back an object
whose :meth:`~ConnectorCall.end` does nothing. The library never installs an SDK, an exporter or a
global provider: the host application does, before or after importing jamey_host (the tracer and
meter obtained here are the API's proxies, which follow a provider set later).

Each call is one span, ``execute_connector {connector}``, made the current span while the call
runs so that whatever the connector traces (its requests to agents) becomes its child; the current
context when the call starts is its parent. Its attributes are ``jamey.connector``,
``jamey.action`` and ``jamey.outcome``; failures and denials set status ``ERROR`` with the result's
first error. The metrics ``jamey.connector.calls`` and ``jamey.connector.duration`` carry exactly
those three attributes. Nothing else about the call is recorded: params and their values never.

The connector and the action are whatever the caller passed. The metrics record them only when
the runtime knows them: a connector it has and an action that connector's spec lists, ``_OTHER``
for any other name, so that no caller can make a metric grow without bound. A span, one per call
and not aggregated, names what was asked for (``execute_connector nosuch``) when it has the shape
of a connector id or an action name (letters, digits, ``_ . -``, at most 64 characters), and
``_OTHER`` when it has not: no free text (spaces, quotes, markup, long values) reaches a span name
or attribute. A name is not a secret: a caller that passes a key as a connector's name has it
recorded as the name it gave.

``jamey.connector.calls`` is an asynchronous (observable) counter: the module counts the calls
itself, one integer per attribute set, and reports the totals when the SDK collects. Exported, it
is the same monotonic sum a synchronous counter gives, without paying the SDK's measurement path
(attribute hashing, locks, exemplar sampling) on every call; the duration histogram, which
needs that path, keeps its exemplars.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from collections.abc import Container, Iterable, Mapping
from contextvars import Token
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, final

from jamey_host.audit import Outcome
from jamey_host.redaction import scrub
from jamey_host.results import ConnectorResult

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
except ImportError:  # the optional extra is not installed: every call below is a no-op
    ENABLED = False
else:
    ENABLED = True

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import Span

__all__ = ["ENABLED", "OTHER", "ConnectorCall", "start_call", "tracing_active"]

_CONNECTOR: Final = "jamey.connector"
_ACTION: Final = "jamey.action"
_OUTCOME: Final = "jamey.outcome"
_CALLS_METRIC: Final = "jamey.connector.calls"
_DURATION_METRIC: Final = "jamey.connector.duration"

# The HTTP semantic conventions' duration buckets, in seconds: the SDK's default buckets are
# meant for milliseconds and would put every call into the first one or two.
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_FAILED: Final = frozenset({"failure", "denied"})
# What a connector or an action the runtime does not know is recorded as (the OpenTelemetry
# conventions' word for a value outside the known set).
OTHER: Final = "_OTHER"
# The shapes of a connector id and an action name (specs.py, action_specs.py), kept short: what a
# span may name that the runtime does not know.
_NAME_SHAPE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def _version() -> str:
    try:
        return importlib.metadata.version("jamey-host")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return ""


@final
class _CallCount:
    """The calls counted under one set of attributes (read-only, shared by span and metrics)."""

    __slots__ = ("attributes", "value")

    def __init__(self, attributes: Mapping[str, str]) -> None:
        self.attributes = attributes
        self.value = 0  # read by the SDK's collecting thread; only this module adds to it


# One entry per (connector, action, outcome): bounded, since both names are known ones.
_call_counts: dict[tuple[str, str | None, Outcome], _CallCount] = {}


def _count_of(connector: str, action: str | None, outcome: Outcome) -> _CallCount:
    key = (connector, action, outcome)
    count = _call_counts.get(key)
    if count is None:
        attributes = {_CONNECTOR: connector}
        if action is not None:
            attributes[_ACTION] = action
        attributes[_OUTCOME] = outcome
        count = _call_counts.setdefault(key, _CallCount(MappingProxyType(attributes)))
    return count


def _observe_calls(options: CallbackOptions) -> Iterable[Observation]:
    # list() copies the entries at once (under the GIL), while the event loop may add one.
    return [
        metrics.Observation(count.value, count.attributes) for count in list(_call_counts.values())
    ]


if ENABLED:
    _VERSION = _version()
    _tracer = trace.get_tracer(__name__, _VERSION)
    _meter = metrics.get_meter(__name__, _VERSION)
    _meter.create_observable_counter(
        _CALLS_METRIC,
        callbacks=[_observe_calls],
        unit="{call}",
        description="execute_connector calls, by outcome",
    )
    _duration = _meter.create_histogram(
        _DURATION_METRIC,
        unit="s",
        description="How long execute_connector calls took",
        explicit_bucket_boundaries_advisory=_BUCKETS,
    )


@final
class ConnectorCall:
    """One ``execute_connector`` call being traced; :meth:`end` it exactly once.

    Built by :func:`start_call`. While it is open its span is the current span of the calling
    task, so the call must end in the same task (the runtime's ``finally`` does).
    """

    __slots__ = ("_actions", "_asked", "_connector", "_span", "_started", "_token")

    def __init__(
        self,
        connector: str,
        actions: Container[str],
        started: float | None,
        span: Span | None = None,
        token: Token[Context] | None = None,
        asked: str | None = None,
    ) -> None:
        self._connector = connector  # as the metrics record it
        self._asked = asked  # the name the span gives an unknown connector, if it has the shape
        self._actions = actions
        self._started = started  # None: nothing (more) to record
        self._span = span  # None: no tracer provider (or no valid context), metrics only
        self._token = token

    def end(
        self,
        outcome: Outcome,
        result: ConnectorResult,
        action: str | None,
        *,
        hidden: tuple[str, ...] = (),
    ) -> None:
        """Record the call's outcome and the result's first error; close the span.

        ``action`` is the call's ``action`` param, or ``None`` when it had none (or its params
        were invalid); one its connector does not list is ``_OTHER`` in the metrics. Each of
        ``hidden`` (the call's secret param values, longest first) is ``***`` in the error.
        """
        started = self._started
        if started is None:  # ended already, or OpenTelemetry is not installed
            return
        seconds = time.perf_counter() - started
        self._started = None
        asked = action
        if action is not None and action not in self._actions:
            action = OTHER
        count = _count_of(self._connector, action, outcome)
        count.value += 1
        attributes = count.attributes
        _duration.record(seconds, attributes)
        span = self._span
        if span is None:
            return
        self._span = None
        assert self._token is not None
        otel_context.detach(self._token)
        if span.is_recording():
            if action is OTHER or self._asked is not None:
                attributes = _asked_attributes(attributes, self._asked, asked)
            span.set_attributes(attributes)
            if outcome in _FAILED:
                span.set_status(trace.StatusCode.ERROR, scrub(_first_error(result), hidden))
        span.end()


_UNRECORDED: Final = ConnectorCall("", (), None)


def start_call(connector: object, actions: Container[str] | None) -> ConnectorCall:
    """Open the span of one call to ``connector`` under the current context, and make it current.

    ``actions`` are the actions that connector's spec lists, or ``None`` when the runtime has no
    connector of that name (it is then recorded as ``_OTHER``).

    Cheap when nothing records: without the API installed it returns a shared no-op object;
    with the API but no tracer provider and no span in the current context
    (:func:`tracing_active`), no span is asked for, and only the metrics (themselves no-ops until a
    meter provider is set) are kept.
    """
    if not ENABLED:
        return _UNRECORDED
    name = OTHER
    asked = None
    if actions is None:
        actions = ()
        asked = _shaped(connector)
    elif type(connector) is str:  # a connector id is a str; never record another type's repr
        name = connector
    started = time.perf_counter()
    if not tracing_active():  # the API's tracer would hand back an invalid span
        return ConnectorCall(name, actions, started)
    span = _tracer.start_span(f"execute_connector {asked or name}")
    if not span.get_span_context().is_valid:
        return ConnectorCall(name, actions, started)
    token = otel_context.attach(trace.set_span_in_context(span))
    return ConnectorCall(name, actions, started, span, token, asked)


def tracing_active() -> bool:
    """Whether a span started now would be recorded or carried on: a tracer provider is set, or
    the current context holds a valid span (a caller's span, or a remote parent the host
    extracted from an incoming request, which the API's tracer carries on even without a
    provider). ``False`` without OpenTelemetry.

    For code that traces a hot path: when this is ``False``, the API's tracer would only hand back
    an invalid span, so there is no need to build a span's name and attributes, nor to ask for it.
    """
    if not ENABLED:
        return False
    # The API has no public way to ask whether a provider is set: this is the global its own
    # proxy tracer reads (a provider named by $OTEL_PYTHON_TRACER_PROVIDER is set there by the
    # first get_tracer, at this module's import). Should a release rename it, say "active".
    if getattr(trace, "_TRACER_PROVIDER", True):
        return True
    context = otel_context.get_current()
    return bool(context) and trace.get_current_span(context).get_span_context().is_valid


def _shaped(name: object) -> str | None:
    """``name`` if it has the shape of a connector id or an action name, else ``None``."""
    if type(name) is str and _NAME_SHAPE.fullmatch(name):
        return name
    return None


def _asked_attributes(
    recorded: Mapping[str, str], connector: str | None, action: str | None
) -> dict[str, str]:
    """A span's attributes naming the connector and action the caller asked for."""
    attributes = dict(recorded)
    if connector is not None:
        attributes[_CONNECTOR] = connector
    if action is not None and (shaped := _shaped(action)) is not None:
        attributes[_ACTION] = shaped
    return attributes


def _first_error(result: ConnectorResult) -> str | None:
    errors = result.errors
    if not errors:
        return None
    first = errors[0]
    return first if type(first) is str else str(first)
