"""One connector call through the host, from the caller's params to its ``connector.execute`` event.

:meth:`Dispatcher.execute` is the whole path of a call, read from top to bottom:

1. the params are checked: a mapping of ``str`` to ``str``;
2. the connector is looked up: unknown is ``Connector not found``, and one whose plugin failed to
   start is ``Connector unavailable``;
3. gating: the connector's capability level must be granted; then, if its spec requires approval,
   an ``approve_execution`` implementation must answer True;
4. a plugin registered into a running runtime must have finished its startup;
5. the required params of the action, when its spec declares them: every missing one is
   reported at once, and the plugin is not called;
6. the plugin's own ``execute_connector``, awaited if async: what it raises, or returns that is
   not a ``ConnectorResult``, becomes a failed result;
7. whatever the end, cancellation included, the call's one ``connector.execute`` audit event,
   then the end of its trace span (:mod:`jamey_host.telemetry`), which was current all along.

The caller never gets an exception for a failure of the call itself, only a failed result; a
cancellation of the caller, and the interpreter's exits, go on after being audited.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from collections.abc import Mapping
from typing import Final, final

from jamey_host.audit import Outcome
from jamey_host.call_audit import CallAudit
from jamey_host.capabilities import CapabilityLevel
from jamey_host.context import ExecutionContext
from jamey_host.fanout import AuditFanout
from jamey_host.gating import ApprovalRequest, approval_refusal, capability_refusal
from jamey_host.hooks import PluginHooks
from jamey_host.lifecycle import PluginLifecycle
from jamey_host.plugin_record import ConnectorRecord
from jamey_host.redaction import has_secret_key, redact, scrub, secret_values
from jamey_host.results import ConnectorResult
from jamey_host.specs import ConnectorSpec
from jamey_host.telemetry import start_call

log = logging.getLogger("jamey_host")

NOT_RUNNING: Final = "Runtime is not running: use 'async with Runtime(...)'"
CANCELLED: Final = "Cancelled before it finished"


@final
class Dispatcher:
    """Runs the connector calls of one runtime, and knows how many are under way."""

    def __init__(
        self,
        *,
        plugins: PluginLifecycle,
        hooks: PluginHooks,
        fanout: AuditFanout,
        granted: frozenset[CapabilityLevel],
    ) -> None:
        self._plugins = plugins
        self._hooks = hooks
        self._fanout = fanout
        self._granted = granted
        self._accepting = False
        self._in_flight = 0
        # Set by drain() when it has to wait; the last call to finish resolves it.
        self._drained: asyncio.Future[None] | None = None

    def open(self) -> None:
        """Accept calls from now on."""
        self._accepting = True

    async def drain(self, grace: float) -> None:
        """Refuse new calls, and give the calls under way up to ``grace`` seconds to finish."""
        self._accepting = False
        if self._in_flight:
            self._drained = asyncio.get_running_loop().create_future()
            await asyncio.wait([self._drained], timeout=grace)

    async def execute(
        self,
        name: str,
        params: Mapping[str, str],
        *,
        user_id: str | None,
        session_id: str | None,
    ) -> ConnectorResult:
        """One call, audited whatever its end; every failure of the call comes back as a result."""
        # The call's audit trail; None when no sink listens, and then nothing of it is computed.
        call_audit = CallAudit(self._fanout.emit) if self._fanout.wanted() else None
        connector = self._plugins.connector(name) if isinstance(name, str) else None
        # The call's span, current until it ends: the connector's spans become its children.
        call = start_call(name, None if connector is None else connector.spec.actions)
        action: str | None = None
        outcome: Outcome = "failure"
        result: ConnectorResult
        params_valid = False  # only valid params can be searched for the call's secret values
        self._in_flight += 1
        try:
            problem = params_problem(params)
            if problem is not None:
                result = ConnectorResult.fail(problem)
            else:
                params_valid = True
                action = params.get("action")
                result, outcome = await self._call(
                    connector,
                    name,
                    params,
                    action=action,
                    user_id=user_id,
                    session_id=session_id,
                    call_audit=call_audit,
                )
        except Exception as exc:  # a bug of the runtime itself must still not reach the caller
            log.exception("execute_connector(%r) failed inside the runtime", name)
            result = ConnectorResult.fail(
                f"Internal error while calling {name}: {type(exc).__name__}"
            )
        except asyncio.CancelledError:  # the caller was cancelled: it gets the CancelledError
            result = ConnectorResult.fail(CANCELLED)
            raise
        except BaseException as exc:  # KeyboardInterrupt, SystemExit, GeneratorExit: they go on
            result = ConnectorResult.fail(f"Stopped by {type(exc).__name__} before it finished")
            raise
        finally:
            self._ended()
            try:
                if call_audit is not None:  # inside the span: a log line of it can name the trace
                    call_audit.finish(
                        connector=name if isinstance(name, str) else repr(name),
                        action=action,
                        user_id=user_id,
                        session_id=session_id,
                        params=params,
                        result=result,
                        outcome=outcome,
                    )
            finally:
                hidden: tuple[str, ...] = ()
                if outcome != "success" and connector is not None and params_valid:
                    hidden = _secrets(params, connector.spec)  # the span shows the first error
                call.end(outcome, result, action, hidden=hidden)
        return result

    async def _call(
        self,
        connector: ConnectorRecord | None,
        name: str,
        params: Mapping[str, str],
        *,
        action: str | None,
        user_id: str | None,
        session_id: str | None,
        call_audit: CallAudit | None,
    ) -> tuple[ConnectorResult, Outcome]:
        """Steps 2 to 6 of a call whose params are well formed; ``connector`` is what the name
        found when the call began (``None``: no connector of that name)."""
        if not self._accepting:
            return ConnectorResult.fail(NOT_RUNNING), "failure"
        if connector is None:
            return self._cannot_call(name), "failure"
        spec = connector.spec
        if call_audit is not None:
            call_audit.conceal(_secrets(params, spec))

        refusal = capability_refusal(spec, self._granted)
        if refusal is None and spec.requires_approval:
            request = ApprovalRequest(
                connector=name,
                action=action,
                params=scrub(redact(params), _secrets(params, spec)),
                user_id=user_id,
                session_id=session_id,
            )
            refusal = await approval_refusal(self._hooks, request)
        if refusal is not None:
            return ConnectorResult.fail(refusal), "denied"

        starting = connector.plugin.starting
        if starting is not None and starting is not asyncio.current_task():
            await asyncio.wait([starting])  # never raises, and never cancels the startup
            if self._plugins.connector(name) is not connector:  # its startup failed meanwhile
                return self._cannot_call(name), "failure"

        missing = spec.missing_params(action, params)
        if missing:
            return ConnectorResult.fail(*(f"Missing {param}" for param in missing)), "failure"

        context = ExecutionContext(
            connector=name,
            action=action,
            user_id=user_id,
            session_id=session_id,
            settings=connector.settings,
            call_audit=call_audit,
        )
        return await self._run_plugin(connector, name, params, context)

    async def _run_plugin(
        self,
        connector: ConnectorRecord,
        name: str,
        params: Mapping[str, str],
        context: ExecutionContext,
    ) -> tuple[ConnectorResult, Outcome]:
        """The plugin's own ``execute_connector``, with a copy of the params."""
        plugin_name = connector.plugin.name
        try:
            answer = connector.execute(name, dict(params), context)
            if inspect.isawaitable(answer):
                answer = await answer
        except asyncio.CancelledError as exc:
            if _caller_cancelled():
                raise
            # The plugin's own (an inner task it awaited was cancelled): a failure of the call.
            _log_raised(exc, name, plugin_name, _secrets(params, connector.spec))
            return _plugin_failed(name, "CancelledError"), "failure"
        except Exception as exc:
            _log_raised(exc, name, plugin_name, _secrets(params, connector.spec))
            return _plugin_failed(name, type(exc).__name__), "failure"
        if not isinstance(answer, ConnectorResult):
            wrong = f"Connector {name} returned {type(answer).__name__}, not a ConnectorResult"
            return ConnectorResult.fail(wrong), "failure"
        if answer.metadata and has_secret_key(answer.metadata):
            answer.metadata = redact(answer.metadata)
        return answer, "success" if answer.success else "failure"

    def _cannot_call(self, name: object) -> ConnectorResult:
        """The failure of a call of a connector that is unknown, or whose plugin failed to start."""
        failure = self._plugins.start_failure(name) if isinstance(name, str) else None
        if failure is not None:
            return ConnectorResult.fail(f"Connector unavailable: {name}: {failure}")
        return ConnectorResult.fail(f"Connector not found: {name}")

    def _ended(self) -> None:
        self._in_flight -= 1
        if self._drained is not None and not self._in_flight and not self._drained.done():
            self._drained.set_result(None)


def params_problem(params: object) -> str | None:
    """What makes ``params`` something other than a mapping of ``str`` to ``str``, or ``None``."""
    if type(params) is not dict and not isinstance(params, Mapping):  # the ABC check is slow
        return f"Invalid params: expected a mapping of str to str, got {type(params).__name__}"
    for key, value in params.items():
        # ``type(...) is str`` first: the usual answer, without a call to isinstance.
        if type(key) is not str and not isinstance(key, str):
            return f"Invalid params: key {key!r} is {type(key).__name__}, not str"
        if type(value) is not str and not isinstance(value, str):
            return f"Invalid params: value of {key!r} is {type(value).__name__}, not str"
    return None


def _secrets(params: Mapping[str, str], spec: ConnectorSpec) -> tuple[str, ...]:
    """The call's param values that must not be shown: by their names, or by the spec."""
    return secret_values(params, spec.is_secret_param if spec.has_secret_params else None)


def _log_raised(exc: BaseException, name: str, plugin_name: str, secrets: tuple[str, ...]) -> None:
    """Log what a plugin raised, with its traceback; the call's secret values never."""
    if not secrets:
        log.error("connector %r (plugin %r) raised", name, plugin_name, exc_info=exc)
        return
    text = scrub("".join(traceback.format_exception(exc)).rstrip(), secrets)
    log.error("connector %r (plugin %r) raised\n%s", name, plugin_name, text)


def _caller_cancelled() -> bool:
    """Whether the task running the call was asked to stop, as opposed to a stray cancellation."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _plugin_failed(name: str, exception_name: str) -> ConnectorResult:
    return ConnectorResult.fail(
        f"Connector {name} failed: {exception_name} (details in the jamey_host log)"
    )
