"""``ConnectorContract``: the battery of tests that every connector must pass.

A connector author subclasses it in a test module::

    class TestEcho(ConnectorContract):
        plugin = EchoPlugin          # a class (a fresh instance per test), an instance or a module
        connector_id = "echo"

and pytest runs the inherited ``test_*`` methods against that connector. Each failure says what
is wrong and what to change in the connector.

The battery's ordinary calls are one call of every action the spec declares, with the action's
required params (values from ``sample_params``, else made up), unless the author lists them in
``sample_calls``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Final

import pluggy
import pytest

from jamey_host import (
    AUDIT_LOGGER_NAME,
    ActionSpec,
    AuditEvent,
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    Runtime,
    hookimpl,
    redact,
)
from jamey_host.call_audit import CallAudit
from jamey_host.hookspecs import JameyHostSpec
from jamey_host.loading import instantiate
from jamey_host.markers import PROJECT_NAME
from jamey_host.testing.plugin import AuditEventList, RuntimeFactory

__all__ = ["ConnectorContract"]

_HOOK_NAMES: Final = (
    "register_connectors",
    "execute_connector",
    "audit_event",
    "approve_execution",
    "runtime_startup",
    "runtime_shutdown",
)
_USER: Final = "jamey-contract-user"
_SESSION: Final = "jamey-contract-session"
_FIX_RESULT: Final = (
    "return ConnectorResult.ok(output) or ConnectorResult.fail('what went wrong') "
    "(from jamey_host import ConnectorResult)"
)
_FIX_RAISE: Final = (
    "return ConnectorResult.fail(...) instead: execute_connector must never raise for a bad call"
)
#: The made-up value of a param that the spec requires and ``sample_params`` does not give.
_SAMPLE_PREFIX: Final = "jamey-contract-"


class ConnectorContractWarning(UserWarning):
    """A connector accepted a call the contract expects it to refuse (not a failure)."""


class _Approver:
    """Approves calls of the connector under test, so the battery reaches it."""

    def __init__(self, connector_id: str) -> None:
        self.connector_id = connector_id

    @hookimpl
    def approve_execution(self, request: Any) -> bool | None:
        return True if request.connector == self.connector_id else None


class _Executor:
    """A plugin's own ``execute_connector`` implementation, found the way pluggy finds it."""

    def __init__(self, function: Callable[..., Any], argnames: Sequence[str]) -> None:
        self.function = function
        self.argnames = tuple(argnames)

    def __call__(self, name: str, params: Mapping[str, str], context: ExecutionContext) -> Any:
        values = {"name": name, "params": params, "context": context}
        return self.function(*(values[arg] for arg in self.argnames))


def _find_executor(plugin: object) -> _Executor:
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(JameyHostSpec)
    try:
        manager.register(plugin, name="jamey_contract_plugin")
    except pluggy.PluginValidationError as exc:
        pytest.fail(f"pluggy refuses the plugin: {exc}", pytrace=False)
    impls = manager.hook.execute_connector.get_hookimpls()
    if not impls:
        unmarked = " (it is there but not marked with @hookimpl)" if _has_attr(plugin) else ""
        pytest.fail(
            f"the plugin {plugin!r} has no execute_connector implementation{unmarked}: define "
            "`@hookimpl def execute_connector(self, name, params, context)` "
            "(from jamey_host import hookimpl)",
            pytrace=False,
        )
    return _Executor(impls[0].function, impls[0].argnames)


def _has_attr(plugin: object) -> bool:
    return callable(getattr(plugin, "execute_connector", None))


def _show(params: Mapping[str, str], canary: str | None = None) -> str:
    """``params`` as JSON, a secret canary (any value starting with ``canary``) as ``<secret>``."""
    shown = {
        k: ("<secret>" if canary is not None and v.startswith(canary) else v)
        for k, v in params.items()
    }
    return json.dumps(shown, sort_keys=True)


def _paths(value: Any, needle: str, path: str) -> Iterator[str]:
    """Where ``needle`` occurs inside ``value``, as ``details['key'][0]`` style paths."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _paths(item, needle, f"{path}[{key!r}]")
            if isinstance(key, str) and needle in key:
                yield f"{path} (a key)"
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            yield from _paths(item, needle, f"{path}[{index}]")
    elif needle in (value if isinstance(value, str) else str(value)):
        yield path


def _describe(exc: BaseException) -> str:
    """``ValueError at plugin.py:12``: the type and the innermost frame, never the message."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


class ConnectorContract:
    """Subclass this in a test module to run the connector battery against your connector.

    Required class attributes:

    - ``plugin``: the plugin object (a module, an instance, or a class, which is instantiated
      afresh for every test);
    - ``connector_id``: the id of the connector under test.

    Optional class attributes:

    - ``capabilities``: the levels granted to the battery's runtime (default: every level, so
      gating never hides the connector from the battery);
    - ``settings``: this connector's settings (``{"timeout": "5"}``), or a whole
      ``connector_settings`` mapping (``{"my_connector": {"timeout": "5"}}``);
    - ``sample_params``: values for params of the ordinary calls, by name (``{"url":
      "https://agent.example.com"}``); a required param not given here gets a made-up value
      (``jamey-contract-<name>``), and an optional one given here is added to every call of an
      action that declares it;
    - ``sample_calls``: the params of the ordinary calls, in place of the ones made from the
      spec (one call of every declared action with its required params);
    - ``missing_params_calls``: params that must fail for lack of what is required
      (default ``[{}, {"action": ""}]``);
    - ``unknown_action``: an action name the connector does not have;
    - ``secret_params``: param names the battery fills with a secret canary value, beside the
      params the spec declares ``secret=True``; no audit event, log record or exception may
      carry any of them;
    - ``check_results_for_secrets``: whether a result may carry a secret param's value.
      ``None`` (the default): no result may carry the value of a param the spec declares
      ``secret=True`` or under a name of ``secret_params``; a param the spec does not declare
      is not held against a result, since the connector was never told it takes it (echoing
      unknown params may be its job, as in the contract's example). ``True``: no result may
      carry any of them. ``False``: results are not checked (for a connector whose job is to
      echo what it is given);
    - ``every_call_may_fail``: the connector cannot succeed in a test (it needs a service the
      test does not have), so ordinary calls that all fail are a warning, not a failure;
    - ``call_timeout``: seconds one call may take.

    Every battery test carries the ``asyncio`` marker itself, so it runs in pytest-asyncio's
    strict mode as in auto mode; a test you add to the subclass follows your own mode's rules.
    """

    plugin: ClassVar[object]
    connector_id: ClassVar[str]
    capabilities: ClassVar[Iterable[CapabilityLevel] | None] = None
    settings: ClassVar[Mapping[str, Any] | None] = None
    sample_calls: ClassVar[Sequence[Mapping[str, str]] | None] = None
    sample_params: ClassVar[Mapping[str, str]] = MappingProxyType({})
    missing_params_calls: ClassVar[Sequence[Mapping[str, str]]] = ({}, {"action": ""})
    unknown_action: ClassVar[str] = "jamey_contract_no_such_action"
    secret_params: ClassVar[Sequence[str]] = (
        "api_key",
        "token",
        "password",
        "secret",
        "authorization",
        "credential",
    )
    check_results_for_secrets: ClassVar[bool | None] = None
    every_call_may_fail: ClassVar[bool] = False
    call_timeout: ClassVar[float] = 10.0

    # -- the battery -----------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_spec_is_valid_and_listed(self, jamey_runtime: RuntimeFactory) -> None:
        """The plugin loads, is active, and lists a valid spec with id ``connector_id``."""
        runtime, _ = await self._jamey_start(jamey_runtime)
        self._jamey_spec(runtime)

    @pytest.mark.asyncio
    async def test_unknown_action_fails_through_runtime(
        self, jamey_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An unknown action comes back as a result, never an exception; a failure says why.

        ``success=False`` is expected; a connector that accepts any action (as the contract's
        echo example does) gets a :class:`ConnectorContractWarning` instead of a failure.
        """
        runtime, _ = await self._jamey_start(jamey_runtime)
        params = {"action": self.unknown_action}
        result = await self._jamey_via_runtime(runtime, params, caplog)
        self._jamey_expect_failure(result, params, "an unknown action", "Unknown action: X")

    @pytest.mark.asyncio
    async def test_unknown_action_never_raises_when_called_directly(
        self, jamey_runtime: RuntimeFactory
    ) -> None:
        """Without the runtime's safety net, the plugin returns a result for an unknown action."""
        runtime, plugin = await self._jamey_start(jamey_runtime)
        params = {"action": self.unknown_action}
        result = await self._jamey_direct(runtime, plugin, params, "an unknown action")
        self._jamey_expect_result_type(result, params)
        self._jamey_expect_failure(result, params, "an unknown action", "Unknown action: X")

    @pytest.mark.asyncio
    async def test_missing_params_fail_through_runtime(
        self, jamey_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Params lacking what the connector needs come back as a result; a failure says why."""
        runtime, _ = await self._jamey_start(jamey_runtime)
        for params in self.missing_params_calls:
            result = await self._jamey_via_runtime(runtime, params, caplog)
            self._jamey_expect_failure(
                result, params, "missing params", "Missing 'action' parameter"
            )

    @pytest.mark.asyncio
    async def test_missing_params_never_raise_when_called_directly(
        self, jamey_runtime: RuntimeFactory
    ) -> None:
        """Without the runtime's safety net, the plugin returns a result for missing params."""
        runtime, plugin = await self._jamey_start(jamey_runtime)
        for params in self.missing_params_calls:
            result = await self._jamey_direct(runtime, plugin, params, "missing params")
            self._jamey_expect_result_type(result, params)
            self._jamey_expect_failure(
                result, params, "missing params", "Missing 'action' parameter"
            )

    @pytest.mark.asyncio
    async def test_every_result_is_a_connector_result(self, jamey_runtime: RuntimeFactory) -> None:
        """Every answer of the plugin's ``execute_connector`` is a ``ConnectorResult``."""
        runtime, plugin = await self._jamey_start(jamey_runtime)
        spec = self._jamey_spec(runtime)
        calls = [*self._jamey_samples(spec), {"action": self.unknown_action}]
        calls.extend(self.missing_params_calls)
        problems: list[str] = []
        for params in calls:
            result = await self._jamey_direct(runtime, plugin, params, "", tolerate=True)
            if isinstance(result, Exception):
                problems.append(
                    f"execute_connector raised {_describe(result)} instead of returning a "
                    f"result for params {_show(params)}: {_FIX_RAISE}"
                )
            elif not isinstance(result, ConnectorResult):
                problems.append(self._jamey_wrong_type(result, params))
        self._jamey_report(problems)

    @pytest.mark.asyncio
    async def test_each_call_emits_one_execute_event(
        self, jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
    ) -> None:
        """Each call through the runtime is audited by exactly one ``connector.execute`` event."""
        runtime, _ = await self._jamey_start(jamey_runtime)
        spec = self._jamey_spec(runtime)
        calls = [*self._jamey_samples(spec), {"action": self.unknown_action}]
        problems: list[str] = []
        for params in calls:
            start = len(jamey_audit_events)
            result = await self._jamey_call(runtime, params)
            emitted = jamey_audit_events[start:]
            execute = [e for e in emitted if e.event == "connector.execute"]
            if len(execute) == 1 and execute[0].connector == self.connector_id:
                continue
            if len(execute) > 1:
                problems.append(
                    f"a call with params {_show(params)} produced {len(execute)} "
                    "'connector.execute' events instead of one: the runtime emits that event "
                    "for every call, so the connector must not emit one itself; name the "
                    f"connector's own events '{self.connector_id}.<what happened>'"
                )
            else:
                problems.append(
                    f"a call with params {_show(params)} produced no 'connector.execute' event "
                    f"for {self.connector_id!r} (result: success={result.success}, errors="
                    f"{result.errors!r}); events seen: {[e.event for e in emitted]!r}"
                )
        self._jamey_report(problems)

    @pytest.mark.asyncio
    async def test_no_secret_in_audit_events_results_or_logs(
        self,
        jamey_runtime: RuntimeFactory,
        jamey_audit_events: AuditEventList,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A secret passed in params never appears in an audit event, a result or a log record."""
        caplog.set_level(logging.DEBUG)
        runtime, plugin = await self._jamey_start(jamey_runtime)
        spec = self._jamey_spec(runtime)
        # Two values with one stem: audit events, logs and exceptions must hold neither; by
        # default a result is held only to the secrets the spec says the connector takes (see
        # check_results_for_secrets).
        canary = f"jamey-canary-{secrets.token_hex(8)}"
        declared, guessed = f"{canary}-declared", f"{canary}-guessed"
        declared_names = self._jamey_declared_secret_names(spec)
        secret_fill = {
            name: declared if name in declared_names else guessed
            for name in [*self.secret_params, *declared_names]
        }
        calls = [
            {**params, **secret_fill}
            for params in [*self._jamey_samples(spec), {"action": self.unknown_action}]
        ]
        held = canary if self.check_results_for_secrets else declared
        direct_events: list[AuditEvent] = []
        problems: list[str] = []
        for params in calls:
            shown = _show(params, canary)
            result = await self._jamey_call(runtime, params)
            if self.check_results_for_secrets is not False:
                problems.extend(
                    f"the result of a call through the runtime with params {shown} carries the "
                    f"secret in {where}: never put a secret param's value into output, errors, "
                    "warnings or metadata (echo redact(params), from jamey_host, if you must "
                    "echo params; or set check_results_for_secrets = False on the contract "
                    "class if echoing what it is given is the connector's job)"
                    for where in _paths(result.to_dict(), held, "result")
                )
            direct = await self._jamey_direct(
                runtime, plugin, params, "", emit=direct_events.append, tolerate=True
            )
            if isinstance(direct, Exception):
                if canary in f"{direct} {direct!r}":
                    problems.append(
                        f"execute_connector, called directly with params {shown}, raised "
                        f"{type(direct).__name__} whose message carries the secret: never put "
                        "a secret param's value into an exception"
                    )
                continue
            if self.check_results_for_secrets is False:
                continue
            value = direct.to_dict() if isinstance(direct, ConnectorResult) else repr(direct)
            problems.extend(
                f"execute_connector, called directly with params {shown}, returned the secret "
                f"in {where}: never put a secret param's value into a result"
                for where in _paths(value, held, "result")
            )
        for event in [*jamey_audit_events, *direct_events]:
            if canary not in event.to_json():
                continue
            for where in list(_paths(event.to_dict(), canary, "event")) or ["its JSON"]:
                problems.append(
                    f"audit event {event.event!r} (outcome {event.outcome!r}) carries the "
                    f"unredacted secret in {where}: details are redacted only under keys whose "
                    "name contains api_key, apikey, token, secret, password, authorization or "
                    "credential, so do not audit a secret's value under another name; leave it "
                    "out (or audit only whether it was given)"
                )
        for record in caplog.records:
            if record.name == AUDIT_LOGGER_NAME:
                continue  # the runtime's JSON-lines copy of the events checked above
            where = f"a log record of logger {record.name!r} at {record.levelname}"
            if canary in record.getMessage():
                problems.append(
                    f"{where} ({record.pathname}:{record.lineno}) carries the secret: never log "
                    "a secret param's value (log redact(params), from jamey_host, instead)"
                )
            elif record.exc_info and canary in logging.Formatter().formatException(record.exc_info):
                problems.append(
                    f"{where} holds an exception whose message carries the secret: never put "
                    "a secret param's value into an exception's message"
                )
        self._jamey_report(problems, header="a secret given in params leaked")

    @pytest.mark.asyncio
    async def test_declared_actions_accept_their_required_params(
        self, jamey_runtime: RuntimeFactory
    ) -> None:
        """Each ordinary call (every declared action, its required params given) is accepted.

        Accepted means not refused as an unknown action nor for a missing param; it may fail
        for other reasons (an agent not found, an upstream down).
        """
        runtime, _ = await self._jamey_start(jamey_runtime)
        spec = self._jamey_spec(runtime)
        problems: list[str] = []
        for params in self._jamey_samples(spec):
            action = params.get("action")
            if action not in spec.actions:
                continue
            result = await self._jamey_call(runtime, params)
            for error in result.errors:
                if error.startswith("Unknown action"):
                    problems.append(
                        f"the spec declares action {action!r}, but a call of it with params "
                        f"{_show(params)} was refused with {error!r}: handle {action!r} in "
                        "execute_connector, or remove it from the spec's actions"
                    )
                elif error.startswith("Missing "):
                    self._jamey_refused_as_missing(spec, action, params, error, problems)
        self._jamey_report(problems)

    @pytest.mark.asyncio
    async def test_each_required_param_left_out_is_reported(
        self, jamey_runtime: RuntimeFactory
    ) -> None:
        """Leaving out one required param is ``Missing NAME``, through the runtime and directly.

        The runtime checks a declared action's required params before the plugin is called;
        called directly, the plugin must still return a result rather than raise.
        """
        runtime, plugin = await self._jamey_start(jamey_runtime)
        spec = self._jamey_spec(runtime)
        problems: list[str] = []
        for action in spec.action_specs:
            complete = self._jamey_call_of(action)
            for name in action.required:
                params = {key: value for key, value in complete.items() if key != name}
                result = await self._jamey_call(runtime, params)
                if f"Missing {name}" not in result.errors:
                    problems.append(
                        f"a call of {action.name!r} without its required param {name!r} (params "
                        f"{_show(params)}) gave errors {result.errors!r} through the runtime, "
                        f"without 'Missing {name}': does register_connectors return the same "
                        "spec on every call?"
                    )
                direct = await self._jamey_direct(runtime, plugin, params, "", tolerate=True)
                if isinstance(direct, Exception):
                    problems.append(
                        f"execute_connector, called directly without the required param "
                        f"{name!r} of {action.name!r} (params {_show(params)}), raised "
                        f"{_describe(direct)}: the runtime checks required params, but called "
                        f"directly the connector must still return "
                        f'ConnectorResult.fail("Missing {name}")'
                    )
                elif not isinstance(direct, ConnectorResult):
                    problems.append(self._jamey_wrong_type(direct, params))
                else:
                    self._jamey_expect_failure(
                        direct, params, f"leaving out the required {name!r}", f"Missing {name}"
                    )
        self._jamey_report(problems)

    @pytest.mark.asyncio
    async def test_ordinary_calls_do_not_all_fail(self, jamey_runtime: RuntimeFactory) -> None:
        """At least one ordinary call succeeds: one that fails them all is broken, or untested.

        With ``every_call_may_fail = True`` (a connector that needs a service the test lacks),
        calls that all fail are a :class:`ConnectorContractWarning` instead.
        """
        runtime, _ = await self._jamey_start(jamey_runtime)
        spec = self._jamey_spec(runtime)
        failures: list[str] = []
        for params in self._jamey_samples(spec):
            result = await self._jamey_call(runtime, params)
            if result.success:
                return
            first = result.errors[0] if result.errors else "no error message"
            failures.append(f"params {_show(params)}: {first}")
        if not failures:
            return
        message = (
            f"every ordinary call of {self._jamey_connector_id()!r} failed:\n"
            + "\n".join(f"- {failure}" for failure in failures)
            + "\nif the connector works, give the battery what a call needs to succeed "
            "(sample_params, settings, or sample_calls on the contract class); if it cannot "
            "succeed in a test (it needs a service the test lacks), set every_call_may_fail = "
            "True"
        )
        if self.every_call_may_fail:
            warnings.warn(ConnectorContractWarning(message), stacklevel=1)
            return
        pytest.fail(message, pytrace=False)

    # -- helpers (named _jamey_* so they do not clash with a subclass's own) ----------------

    def _jamey_plugin(self) -> object:
        plugin = getattr(self, "plugin", None)
        if plugin is None:
            pytest.fail(
                f"{type(self).__name__} must set the class attribute `plugin` to the connector's "
                "plugin (a module, an instance or a class)",
                pytrace=False,
            )
        return instantiate(plugin)

    def _jamey_connector_id(self) -> str:
        connector_id = getattr(self, "connector_id", None)
        if not isinstance(connector_id, str) or not connector_id:
            pytest.fail(
                f"{type(self).__name__} must set the class attribute `connector_id` to the id "
                "of the connector under test (a str, as in its ConnectorSpec)",
                pytrace=False,
            )
        return connector_id

    def _jamey_settings(self) -> dict[str, Mapping[str, str]]:
        settings = self.settings or {}
        connector_id = self._jamey_connector_id()
        if settings and all(isinstance(value, Mapping) for value in settings.values()):
            return {str(key): value for key, value in settings.items()}
        return {connector_id: settings}

    async def _jamey_start(self, jamey_runtime: RuntimeFactory) -> tuple[Runtime, object]:
        plugin = self._jamey_plugin()
        connector_id = self._jamey_connector_id()
        capabilities = (
            frozenset(CapabilityLevel) if self.capabilities is None else self.capabilities
        )
        runtime = await jamey_runtime(
            plugin,
            _Approver(connector_id),
            capabilities=capabilities,
            settings=self._jamey_settings(),
        )
        self._jamey_spec(runtime)  # every test needs the connector loaded and listed
        return runtime, plugin

    def _jamey_spec(self, runtime: Runtime) -> ConnectorSpec:
        """The spec of the connector under test; fails the test if it is not loaded and listed."""
        connector_id = self._jamey_connector_id()
        failed = [info for info in runtime.plugins() if info.status != "active"]
        if failed:
            reasons = "; ".join(f"{info.name}: {info.status}, {info.error}" for info in failed)
            pytest.fail(
                f"the plugin did not load into the runtime ({reasons}); fix that error first "
                "(register_connectors must return valid ConnectorSpec objects)"
                f"{self._jamey_unmarked()}",
                pytrace=False,
            )
        specs = {spec.id: spec for spec in runtime.connectors()}
        spec = specs.get(connector_id)
        if spec is None:
            listed = sorted(specs) or "none"
            pytest.fail(
                f"connector {connector_id!r} is not listed by the runtime (connectors listed: "
                f"{listed}): register_connectors must be marked with @hookimpl and return a "
                f"ConnectorSpec with id={connector_id!r}, or connector_id is wrong"
                f"{self._jamey_unmarked()}",
                pytrace=False,
            )
        if not isinstance(spec, ConnectorSpec):
            pytest.fail(f"{spec!r} is not a ConnectorSpec", pytrace=False)
        return spec

    def _jamey_unmarked(self) -> str:
        """A hint naming the plugin's hook-named functions that lack ``@hookimpl``."""
        plugin = getattr(self, "plugin", None)
        names = [
            name
            for name in _HOOK_NAMES
            if callable(getattr(plugin, name, None))
            and not hasattr(getattr(plugin, name), f"{PROJECT_NAME}_impl")
        ]
        if not names:
            return ""
        return (
            f"; {', '.join(names)} {'is' if len(names) == 1 else 'are'} not marked with @hookimpl "
            "(from jamey_host import hookimpl), so the runtime does not see "
            f"{'it' if len(names) == 1 else 'them'}"
        )

    def _jamey_samples(self, spec: ConnectorSpec) -> list[Mapping[str, str]]:
        """The ordinary calls: ``sample_calls``, else every declared action's own call."""
        if self.sample_calls is not None:
            return list(self.sample_calls)
        return [self._jamey_call_of(action) for action in spec.action_specs] or [{}]

    def _jamey_call_of(self, action: ActionSpec) -> dict[str, str]:
        """A call of ``action``: its required params, and the ``sample_params`` it declares."""
        params = {"action": action.name}
        for name in action.required:
            params[name] = self.sample_params.get(name, f"{_SAMPLE_PREFIX}{name}")
        for name, value in self.sample_params.items():
            if any(param.matches(name) for param in action.params):
                params.setdefault(name, value)
        return params

    def _jamey_declared_secret_names(self, spec: ConnectorSpec) -> list[str]:
        """A name of each param the spec declares secret, or declares under a name of
        ``secret_params`` (``api_key``; not every name that merely contains one, such as
        ``max_tokens``)."""
        names: dict[str, None] = {}
        for action in spec.action_specs:
            for param in action.params:
                name = f"{param.prefix}jamey_contract" if param.family else param.name
                if param.secret or name in self.secret_params:
                    names[name] = None
        return list(names)

    def _jamey_refused_as_missing(
        self,
        spec: ConnectorSpec,
        action: str,
        params: Mapping[str, str],
        error: str,
        problems: list[str],
    ) -> None:
        name = error.removeprefix("Missing ").strip("'\" ")
        if name in params:
            problems.append(
                f"a call of {action!r} with params {_show(params)} was refused with {error!r}, "
                f"although {name!r} was given: does the connector read another name than the "
                "spec declares?"
            )
        elif any(param.matches(name) for param in spec.action_spec(action).params):
            # Declared optional: needed by some calls only (the agent connector's `name`, for
            # its own protocol but not for A2A), which only the connector can judge.
            warnings.warn(
                ConnectorContractWarning(
                    f"a call of {action!r} with its required params ({_show(params)}) was "
                    f"refused with {error!r}, a param the spec declares optional: give it a "
                    "value in sample_params (or sample_calls) so that the battery's call of "
                    f"{action!r} gets past that check"
                ),
                stacklevel=1,
            )
        else:
            problems.append(
                f"a call of {action!r} with its required params ({_show(params)}) was refused "
                f"with {error!r}: if the connector needs {name!r}, declare it in the action's "
                f"spec, as ParamSpec({name!r}, required=True) when every call needs it (callers "
                f"then learn of it), or as ParamSpec({name!r}) with a value in sample_params "
                "when only some calls do"
            )

    async def _jamey_call(self, runtime: Runtime, params: Mapping[str, str]) -> ConnectorResult:
        call = runtime.execute_connector(
            self._jamey_connector_id(), params, user_id=_USER, session_id=_SESSION
        )
        try:
            result = await asyncio.wait_for(call, self.call_timeout)
        except TimeoutError:
            pytest.fail(
                f"a call with params {_show(params)} took more than {self.call_timeout} s "
                "(raise call_timeout on the contract class if that is expected)",
                pytrace=False,
            )
        for refusal in ("Capability denied:", "Approval required:"):
            if result.errors and result.errors[0].startswith(refusal):
                pytest.fail(
                    f"the battery's runtime refused the call ({result.errors[0]}), so it never "
                    "reached the connector: grant its level in `capabilities` on the contract "
                    "class, or leave `capabilities` unset",
                    pytrace=False,
                )
        return result

    async def _jamey_via_runtime(
        self,
        runtime: Runtime,
        params: Mapping[str, str],
        caplog: pytest.LogCaptureFixture,
    ) -> ConnectorResult:
        with caplog.at_level(logging.ERROR, logger="jamey_host"):
            start = len(caplog.records)
            result = await self._jamey_call(runtime, params)
            caught = [r for r in caplog.records[start:] if r.name == "jamey_host" and r.exc_info]
        if caught and caught[0].exc_info and caught[0].exc_info[1] is not None:
            pytest.fail(
                f"execute_connector raised {_describe(caught[0].exc_info[1])} on params "
                f"{_show(params)}, and only the runtime's safety net turned it into a failed "
                f"result: {_FIX_RAISE}",
                pytrace=False,
            )
        return result

    async def _jamey_direct(
        self,
        runtime: Runtime,
        plugin: object,
        params: Mapping[str, str],
        what: str,
        emit: Callable[[AuditEvent], None] | None = None,
        *,
        tolerate: bool = False,
    ) -> Any:
        """Call the plugin's own implementation, as the runtime would but with no safety net.

        An exception fails the test, or with ``tolerate`` is returned for the caller to report.
        """
        connector_id = self._jamey_connector_id()
        executor = _find_executor(plugin)
        context = ExecutionContext(
            connector=connector_id,
            action=params.get("action"),
            user_id=_USER,
            session_id=_SESSION,
            settings=MappingProxyType(dict(runtime.settings_for(connector_id))),
            call_audit=None if emit is None else CallAudit(emit),
        )
        raised: Exception | None = None
        timed_out = False
        try:
            answer = executor(connector_id, dict(params), context)
            if inspect.isawaitable(answer):
                answer = await asyncio.wait_for(answer, self.call_timeout)
        except TimeoutError:
            timed_out = True
        except Exception as exc:
            raised = exc
        if timed_out:
            pytest.fail(
                f"execute_connector took more than {self.call_timeout} s on params "
                f"{_show(params)} (raise call_timeout on the contract class if that is expected)",
                pytrace=False,
            )
        if raised is not None:
            if tolerate:
                return raised
            pytest.fail(
                f"execute_connector raised {_describe(raised)} on {what} "
                f"(params {_show(redact(dict(params)))}): {_FIX_RAISE}",
                pytrace=False,
            )
        return answer

    def _jamey_expect_result_type(self, result: object, params: Mapping[str, str]) -> None:
        if not isinstance(result, ConnectorResult):
            pytest.fail(self._jamey_wrong_type(result, params), pytrace=False)

    def _jamey_wrong_type(self, result: object, params: Mapping[str, str]) -> str:
        hint = " (a missing return statement?)" if result is None else ""
        return (
            f"execute_connector returned {type(result).__name__}{hint} instead of a "
            f"ConnectorResult for params {_show(params)}: {_FIX_RESULT}"
        )

    def _jamey_expect_failure(
        self, result: ConnectorResult, params: Mapping[str, str], what: str, example: str
    ) -> None:
        if result.success:
            # Not a failure: the contract's own echo example accepts anything. Said all the same.
            warnings.warn(
                ConnectorContractWarning(
                    f"{what} (params {_show(params)}) gave success=True: consider checking the "
                    f'params and returning ConnectorResult.fail("{example}") when they are not '
                    "usable"
                    + (
                        " (or set missing_params_calls on the contract class if these params "
                        "are in fact complete for your connector)"
                        if what == "missing params"
                        else ""
                    )
                ),
                stacklevel=2,
            )
            return
        if not any(error.strip() for error in result.errors):
            pytest.fail(
                f"{what} (params {_show(params)}) gave success=False with no error message "
                f"(errors={result.errors!r}): say what is wrong, as in "
                f'ConnectorResult.fail("{example}")',
                pytrace=False,
            )

    def _jamey_report(self, problems: list[str], header: str = "") -> None:
        if problems:
            intro = f"{header}:\n" if header else ""
            listed = "\n".join(f"- {problem}" for problem in dict.fromkeys(problems))
            pytest.fail(intro + listed, pytrace=False)
