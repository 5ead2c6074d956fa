"""The ConnectorContract battery, run through pytester against good and sloppy connectors."""

from __future__ import annotations

import pytest

from jamey_host.testing import ConnectorContract

from .samples import (
    BATTERY_SIZE,
    GOOD,
    MODES,
    SLOPPY,
    failure_text,
    inner_args,
    outcomes,
    run_inner,
)

BATTERY = sorted(name for name in dir(ConnectorContract) if name.startswith("test_"))


def test_the_battery_has_the_tests_the_contract_names() -> None:
    assert len(BATTERY) == BATTERY_SIZE
    assert set(BATTERY) == {
        "test_spec_is_valid_and_listed",
        "test_unknown_action_fails_through_runtime",
        "test_unknown_action_never_raises_when_called_directly",
        "test_missing_params_fail_through_runtime",
        "test_missing_params_never_raise_when_called_directly",
        "test_every_result_is_a_connector_result",
        "test_each_call_emits_one_execute_event",
        "test_no_secret_in_audit_events_results_or_logs",
        "test_declared_actions_accept_their_required_params",
        "test_each_required_param_left_out_is_reported",
        "test_ordinary_calls_do_not_all_fail",
    }


def test_the_base_class_itself_is_not_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("from jamey_host.testing import ConnectorContract\n")
    result = run_inner(pytester, "strict")
    result.assert_outcomes()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.mark.parametrize("mode", MODES)
def test_a_good_connector_passes_the_battery(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_good=GOOD)
    result = run_inner(pytester, mode, "-W", "error")
    result.assert_outcomes(passed=BATTERY_SIZE, warnings=0)


@pytest.mark.parametrize("mode", MODES)
def test_a_sloppy_connector_fails_with_messages_that_say_what_to_fix(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_sloppy=SLOPPY)
    result = run_inner(pytester, mode, "--show-capture=no")
    result.assert_outcomes(passed=BATTERY_SIZE - 5, failed=5)
    result.stdout.fnmatch_lines(
        [
            "FAILED *TestSloppy::test_unknown_action_fails_through_runtime*",
            "FAILED *TestSloppy::test_unknown_action_never_raises_when_called_directly*",
            "FAILED *TestSloppy::test_every_result_is_a_connector_result*",
            "FAILED *TestSloppy::test_no_secret_in_audit_events_results_or_logs*",
            "FAILED *TestSloppy::test_ordinary_calls_do_not_all_fail*",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        [
            "*TestSloppy.test_unknown_action_fails_through_runtime*",
            "execute_connector raised ValueError at *test_sloppy.py:* on params "
            '{"action": "jamey_contract_no_such_action"}, and only the runtime*safety net*'
            "return ConnectorResult.fail(...) instead*",
            "*TestSloppy.test_unknown_action_never_raises_when_called_directly*",
            "execute_connector raised ValueError at *test_sloppy.py:* on an unknown action*"
            "return ConnectorResult.fail(...) instead: execute_connector must never raise*",
            "*TestSloppy.test_every_result_is_a_connector_result*",
            '- execute_connector returned dict instead of a ConnectorResult for params {"action":'
            ' "greet"}: return ConnectorResult.ok(output) or ConnectorResult.fail(*',
            "*TestSloppy.test_no_secret_in_audit_events_results_or_logs*",
            "a secret given in params leaked:",
            "- audit event 'sloppy.called' (outcome 'info') carries the unredacted secret in "
            # fnmatch reads [...] as a character class: match the path loosely
            "event?'details'??'received'?: *do not audit a secret's value under another name*",
        ]
    )
    # the canary itself is never printed in a failure message
    assert "jamey-canary-" not in "\n".join(
        line for line in result.outlines if not line.startswith(("INFO", "ERROR", "{"))
    )


VARIANTS = '''
import json
import logging
import sys

from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, hookimpl, redact
from jamey_host.testing import ConnectorContract

log = logging.getLogger("variants")


def spec(cid, level=CapabilityLevel.READ_ONLY, approval=False):
    return ConnectorSpec(id=cid, name=cid, version="1.0", description="d",
                         capability_level=level, requires_approval=approval, actions=("go",))


class Base:
    """Correct unless a subclass overrides ``go`` or ``unknown``."""
    cid = "base"

    @hookimpl
    def register_connectors(self):
        return [spec(self.cid)]

    @hookimpl
    def execute_connector(self, params, context):
        action = params.get("action")
        if not action:
            return ConnectorResult.fail("Missing 'action' parameter")
        if action != "go":
            return self.unknown(action)
        return self.go(params, context)

    def unknown(self, action):
        return ConnectorResult.fail(f"Unknown action: {action}")

    def go(self, params, context):
        return ConnectorResult.ok("done")


class NoneResult(Base):
    cid = "none_result"
    def go(self, params, context):
        ConnectorResult.ok("forgot to return it")


class TestNoneResult(ConnectorContract):
    plugin = NoneResult
    connector_id = "none_result"


class OwnExecuteEvent(Base):
    cid = "own_event"
    def go(self, params, context):
        context.audit("connector.execute", outcome="success")
        return ConnectorResult.ok("done")


class TestOwnExecuteEvent(ConnectorContract):
    plugin = OwnExecuteEvent
    connector_id = "own_event"


class LogsSecret(Base):
    cid = "logs_secret"
    def go(self, params, context):
        log.debug("called with %s", dict(params))
        return ConnectorResult.ok("done")


class TestLogsSecret(ConnectorContract):
    plugin = LogsSecret
    connector_id = "logs_secret"


class EchoesSecret(Base):
    cid = "echoes_secret"
    def go(self, params, context):
        return ConnectorResult.ok(json.dumps(dict(params)))


class TestEchoesSecret(ConnectorContract):
    plugin = EchoesSecret
    connector_id = "echoes_secret"
    check_results_for_secrets = True


class TestEchoesSecretAllowed(ConnectorContract):
    """A connector whose job is to echo what it is given opts out of the results check."""
    plugin = EchoesSecret
    connector_id = "echoes_secret"
    check_results_for_secrets = False


class RaisesSecret(Base):
    cid = "raises_secret"
    def go(self, params, context):
        raise ValueError(f"rejected key {params.get('api_key')}")


class TestRaisesSecret(ConnectorContract):
    plugin = RaisesSecret
    connector_id = "raises_secret"


class SilentFailure(Base):
    cid = "silent"
    def unknown(self, action):
        return ConnectorResult(False)


class TestSilentFailure(ConnectorContract):
    plugin = SilentFailure
    connector_id = "silent"


class AcceptsAnything(Base):
    cid = "accepts"
    def unknown(self, action):
        return ConnectorResult.ok("sure")


class TestAcceptsAnything(ConnectorContract):
    plugin = AcceptsAnything
    connector_id = "accepts"


class BadSpec(Base):
    @hookimpl
    def register_connectors(self):
        return [spec("Bad-Id")]


class TestBadSpec(ConnectorContract):
    plugin = BadSpec
    connector_id = "bad_id"


class TestWrongId(ConnectorContract):
    plugin = Base
    connector_id = "not_base"


class TestNoPlugin(ConnectorContract):
    connector_id = "base"


class Unmarked:
    @hookimpl
    def register_connectors(self):
        return [spec("unmarked")]

    def execute_connector(self, name, params, context):
        return ConnectorResult.fail("never called")


class TestUnmarked(ConnectorContract):
    plugin = Unmarked
    connector_id = "unmarked"


class Admin(Base):
    cid = "admin"
    @hookimpl
    def register_connectors(self):
        return [spec("admin", CapabilityLevel.SYSTEM_ADMIN, approval=True)]


class TestAdmin(ConnectorContract):
    plugin = Admin
    connector_id = "admin"


class TestAdminNotGranted(ConnectorContract):
    plugin = Admin
    connector_id = "admin"
    capabilities = [CapabilityLevel.READ_ONLY]


class Configured(Base):
    cid = "configured"
    def go(self, params, context):
        if context.settings.get("greeting") != "hi":
            raise RuntimeError("settings did not arrive")
        if params.get("who") != "bob":
            raise RuntimeError("sample_calls did not arrive")
        return ConnectorResult.ok("hi bob")


class TestConfiguredFlatSettings(ConnectorContract):
    plugin = Configured()
    connector_id = "configured"
    settings = {"greeting": "hi"}
    sample_calls = [{"action": "go", "who": "bob"}]


class TestConfiguredNestedSettings(TestConfiguredFlatSettings):
    settings = {"configured": {"greeting": "hi"}}


@hookimpl
def register_connectors():
    return [spec("module_plugin")]


@hookimpl
async def execute_connector(context):
    if context.action == "go":
        return ConnectorResult.ok("done")
    return ConnectorResult.fail(f"Unknown action: {context.action!r}")


class TestModulePlugin(ConnectorContract):
    plugin = sys.modules[__name__]
    connector_id = "module_plugin"


class ContractEcho:
    """CONTRACT.md section 2's example, word for word."""

    @hookimpl
    def register_connectors(self):
        return [ConnectorSpec(id="echo", name="Echo", version="1.0.0", description="Echoes params",
                              capability_level=CapabilityLevel.READ_ONLY, actions=("echo",))]

    @hookimpl
    async def execute_connector(self, name, params, context):
        context.audit("echo.called", outcome="success", size=len(params))
        return ConnectorResult.ok(json.dumps(dict(params)))


class TestContractEcho(ConnectorContract):
    plugin = ContractEcho()
    connector_id = "echo"
'''


PASS = "passed"

#: class in VARIANTS -> {battery test: PASS or a fragment of its failure message}; tests not
#: listed must pass.
EXPECTED: dict[str, dict[str, str]] = {
    "TestNoneResult": {
        "test_every_result_is_a_connector_result": "execute_connector returned NoneType (a "
        'missing return statement?) instead of a ConnectorResult for params {"action": "go"}',
        "test_ordinary_calls_do_not_all_fail": "every ordinary call of 'none_result' failed:\n"
        '- params {"action": "go"}: Connector none_result returned NoneType, not a '
        "ConnectorResult",
    },
    "TestOwnExecuteEvent": {
        "test_each_call_emits_one_execute_event": "produced 2 'connector.execute' events "
        "instead of one: the runtime emits that event for every call, so the connector must "
        "not emit one itself; name the connector's own events 'own_event.<what happened>'",
    },
    "TestLogsSecret": {
        "test_no_secret_in_audit_events_results_or_logs": "- a log record of logger "
        "'variants' at DEBUG (",
    },
    "TestEchoesSecret": {
        "test_no_secret_in_audit_events_results_or_logs": "the result of a call through the "
        'runtime with params {"action": "go", "api_key": "<secret>"',
    },
    "TestRaisesSecret": {
        "test_every_result_is_a_connector_result": "execute_connector raised ValueError at ",
        "test_ordinary_calls_do_not_all_fail": "every ordinary call of 'raises_secret' failed",
        # The runtime's own log of the exception hides the call's secrets; called directly, the
        # plugin is caught all the same.
        "test_no_secret_in_audit_events_results_or_logs": "raised ValueError whose message "
        "carries the secret: never put a secret param's value into an exception",
    },
    "TestSilentFailure": {
        "test_unknown_action_fails_through_runtime": "an unknown action (params "
        '{"action": "jamey_contract_no_such_action"}) gave success=False with no error message',
        "test_unknown_action_never_raises_when_called_directly": "with no error message",
    },
    # Accepting an unknown action is allowed (the contract's own echo example does), with a
    # ConnectorContractWarning saying so; see test_accepting_anything_is_a_warning.
    "TestAcceptsAnything": {},
    # Echoing every param: no param it declares is secret, so the api_key the battery adds is
    # not held against its result (its audit events and logs still are).
    "TestContractEcho": {},
    "TestBadSpec": dict.fromkeys(
        BATTERY,
        "the plugin did not load into the runtime (BadSpec: failed, ValueError: "
        "ConnectorSpec.id 'Bad-Id' is invalid",
    ),
    "TestWrongId": dict.fromkeys(
        BATTERY,
        "connector 'not_base' is not listed by the runtime (connectors listed: ['base']): "
        "register_connectors must be marked with @hookimpl and return a ConnectorSpec with "
        "id='not_base', or connector_id is wrong",
    ),
    "TestNoPlugin": dict.fromkeys(
        BATTERY, "TestNoPlugin must set the class attribute `plugin` to the connector's plugin"
    ),
    "TestUnmarked": dict.fromkeys(
        BATTERY,
        "(Unmarked: failed, registers connectors but does not implement execute_connector); "
        "fix that error first (register_connectors must return valid ConnectorSpec objects); "
        "execute_connector is not marked with @hookimpl (from jamey_host import hookimpl)",
    ),
    "TestAdmin": {},
    "TestAdminNotGranted": {
        name: "the battery's runtime refused the call (Capability denied:"
        for name in BATTERY
        if name
        not in (
            "test_spec_is_valid_and_listed",
            "test_unknown_action_never_raises_when_called_directly",
            "test_missing_params_never_raise_when_called_directly",
            "test_every_result_is_a_connector_result",
            "test_each_required_param_left_out_is_reported",  # "go" requires nothing
        )
    },
    "TestConfiguredFlatSettings": {},
    "TestConfiguredNestedSettings": {},
    "TestModulePlugin": {},
    "TestEchoesSecretAllowed": {},
}


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_each_mistake_fails_the_right_tests_with_a_helpful_message(
    pytester: pytest.Pytester, variant: str
) -> None:
    pytester.makepyfile(test_variants=VARIANTS)
    reprec = pytester.inline_run(*inner_args("strict"), f"test_variants.py::{variant}")
    expected = EXPECTED[variant]
    seen = outcomes(reprec)
    assert seen == {
        f"{variant}::{name}": "failed" if name in expected else PASS for name in BATTERY
    }
    for name, fragment in expected.items():
        text = failure_text(reprec, f"{variant}::{name}")
        assert fragment in text, text
        assert "jamey-canary-" not in text


def test_accepting_anything_is_a_warning_that_says_what_to_consider(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_variants=VARIANTS)
    result = run_inner(pytester, "strict", "test_variants.py::TestContractEcho")
    # 2 unknown-action warnings, 4 missing-params ones
    result.assert_outcomes(passed=BATTERY_SIZE, warnings=6)
    result.stdout.fnmatch_lines(
        [
            "*ConnectorContractWarning: an unknown action (params "
            '{"action": "jamey_contract_no_such_action"}) gave success=True: consider checking '
            "the params and returning ConnectorResult.fail(*",
        ]
    )


# -- issue 13 item 15: mistakes the battery used to miss, caught by default --------------------

SPECS = '''
import json

from jamey_host import (
    ActionSpec, CapabilityLevel, ConnectorResult, ConnectorSpec, ParamSpec, hookimpl, redact,
)
from jamey_host.testing import ConnectorContract

NOTES = (
    ActionSpec("add", "Add a note", params=(
        ParamSpec("title", "the title", required=True),
        ParamSpec("pin", "the owner's PIN", required=True, secret=True),
        ParamSpec("tag_*", "tags"),
    )),
    ActionSpec("list", "List the notes"),
)


def spec(cid, actions=NOTES):
    return ConnectorSpec(id=cid, name=cid, version="1.0", description="d",
                         capability_level=CapabilityLevel.READ_ONLY, actions=actions)


class Notes:
    """Correct, with action specs: every test passes, with no warning."""
    cid = "notes"

    def __init__(self):
        self.notes = []

    @hookimpl
    def register_connectors(self):
        return [spec(self.cid)]

    @hookimpl
    def execute_connector(self, params, context):
        action = params.get("action")
        if not action:
            return ConnectorResult.fail("Missing 'action' parameter")
        if action == "add":
            missing = [f"Missing {name}" for name in ("title", "pin") if name not in params]
            if missing:
                return ConnectorResult.fail(*missing)
            return self.add(params)
        if action == "list":
            return self.list()
        return ConnectorResult.fail(f"Unknown action: {action}")

    def add(self, params):
        self.notes.append(params["title"])
        return ConnectorResult.ok("added")

    def list(self):
        return ConnectorResult.ok(json.dumps(self.notes))


class TestNotes(ConnectorContract):
    plugin = Notes
    connector_id = "notes"


class SecondActionReturnsADict(Notes):
    cid = "dict_second"
    def list(self):
        return {"notes": self.notes}


class TestSecondActionReturnsADict(ConnectorContract):
    plugin = SecondActionReturnsADict
    connector_id = "dict_second"


class EchoesTheApiKey:
    """The api_key it declares is a secret by its name."""

    @hookimpl
    def register_connectors(self):
        return [spec("echo_key", actions=(ActionSpec("login", params=(ParamSpec("api_key"),)),))]

    @hookimpl
    def execute_connector(self, params, context):
        if params.get("action") != "login":
            return ConnectorResult.fail(f"Unknown action: {params.get('action')}")
        return ConnectorResult.ok(f"logged in with {params.get('api_key')}")


class TestEchoesTheApiKey(ConnectorContract):
    plugin = EchoesTheApiKey
    connector_id = "echo_key"


class EchoesAnUndeclaredApiKey(EchoesTheApiKey):
    """No action specs at all: nothing tells it an api_key is meant to stay hidden."""

    @hookimpl
    def register_connectors(self):
        return [spec("echo_key", actions=("login",))]


class TestEchoesAnUndeclaredApiKey(ConnectorContract):
    plugin = EchoesAnUndeclaredApiKey
    connector_id = "echo_key"


class TestEchoesAnUndeclaredApiKeyChecked(TestEchoesAnUndeclaredApiKey):
    check_results_for_secrets = True


class EchoesItsSecretParam(Notes):
    """The PIN is secret by its spec, not by its name."""
    cid = "echo_pin"
    def add(self, params):
        return ConnectorResult.ok(json.dumps(dict(params)))


class TestEchoesItsSecretParam(ConnectorContract):
    plugin = EchoesItsSecretParam
    connector_id = "echo_pin"


class FailsEveryCall(Notes):
    cid = "always_fails"
    def add(self, params):
        return ConnectorResult.fail("backend unavailable")
    def list(self):
        return ConnectorResult.fail("backend unavailable")


class TestFailsEveryCall(ConnectorContract):
    plugin = FailsEveryCall
    connector_id = "always_fails"


class TestFailsEveryCallOnPurpose(TestFailsEveryCall):
    every_call_may_fail = True


class ReadsAnUndeclaredParam(Notes):
    cid = "undeclared"
    def add(self, params):
        if "owner" not in params:
            return ConnectorResult.fail("Missing owner")
        return ConnectorResult.ok("added")


class TestReadsAnUndeclaredParam(ConnectorContract):
    plugin = ReadsAnUndeclaredParam
    connector_id = "undeclared"


class TestReadsAnUndeclaredParamGivenIt(TestReadsAnUndeclaredParam):
    """Given in sample_params, though optional in the spec: then the call is complete."""
    sample_params = {"owner": "bob"}


class ReadsAnUndeclaredParamDeclared(ReadsAnUndeclaredParam):
    cid = "declared_owner"
    @hookimpl
    def register_connectors(self):
        add = ActionSpec("add", params=(*NOTES[0].params, ParamSpec("owner")))
        return [spec(self.cid, actions=(add, NOTES[1]))]


class TestNeedsAnOptionalParam(ConnectorContract):
    """owner is declared optional, so a call refused for lack of it is the connector's call."""
    plugin = ReadsAnUndeclaredParamDeclared
    connector_id = "declared_owner"


class TestSampleParamsFillOptionalParams(ConnectorContract):
    plugin = ReadsAnUndeclaredParamDeclared
    connector_id = "declared_owner"
    sample_params = {"owner": "bob", "title": "Groceries"}


class ForgetsAnAction(Notes):
    cid = "forgets"
    def list(self):
        return ConnectorResult.fail("Unknown action: list")


class TestForgetsAnAction(ConnectorContract):
    plugin = ForgetsAnAction
    connector_id = "forgets"


class TrustsTheRuntime(Notes):
    """Reads its required params without looking: fine through the runtime, not directly."""
    cid = "trusting"
    @hookimpl
    def execute_connector(self, params, context):
        if params.get("action") == "add":
            return ConnectorResult.ok(f"added {params['title']}")
        return super().execute_connector(params, context)


class TestTrustsTheRuntime(ConnectorContract):
    plugin = TrustsTheRuntime
    connector_id = "trusting"
'''

#: class in SPECS -> {battery test: a fragment of its failure message}; the others must pass.
SPEC_EXPECTED: dict[str, dict[str, str]] = {
    "TestNotes": {},
    "TestSecondActionReturnsADict": {
        "test_every_result_is_a_connector_result": "- execute_connector returned dict instead "
        'of a ConnectorResult for params {"action": "list"}: return ConnectorResult.ok(output) '
        "or ConnectorResult.fail('what went wrong')",
    },
    "TestEchoesTheApiKey": {
        "test_no_secret_in_audit_events_results_or_logs": "the result of a call through the "
        'runtime with params {"action": "login", "api_key": "<secret>", ',
    },
    "TestEchoesAnUndeclaredApiKey": {},
    "TestEchoesAnUndeclaredApiKeyChecked": {
        "test_no_secret_in_audit_events_results_or_logs": "the result of a call through the "
        'runtime with params {"action": "login", "api_key": "<secret>", ',
    },
    "TestEchoesItsSecretParam": {
        "test_no_secret_in_audit_events_results_or_logs": '"pin": "<secret>", "secret": '
        '"<secret>", "title": "jamey-contract-title", "token": "<secret>"} carries the secret '
        "in result['output']: never put a secret param's value into output",
    },
    "TestFailsEveryCall": {
        "test_ordinary_calls_do_not_all_fail": "every ordinary call of 'always_fails' failed:\n"
        '- params {"action": "add", "pin": "jamey-contract-pin", "title": '
        '"jamey-contract-title"}: backend unavailable\n'
        '- params {"action": "list"}: backend unavailable\n'
        "if the connector works, give the battery what a call needs to succeed (sample_params, "
        "settings, or sample_calls on the contract class); if it cannot succeed in a test (it "
        "needs a service the test lacks), set every_call_may_fail = True",
    },
    "TestFailsEveryCallOnPurpose": {},  # a warning instead: see below
    "TestReadsAnUndeclaredParam": {
        "test_declared_actions_accept_their_required_params": "a call of 'add' with its "
        'required params ({"action": "add", "pin": "jamey-contract-pin", "title": '
        "\"jamey-contract-title\"}) was refused with 'Missing owner': if the connector needs "
        "'owner', declare it in the action's spec, as ParamSpec('owner', required=True) when "
        "every call needs it (callers then learn of it), or as ParamSpec('owner') with a value "
        "in sample_params when only some calls do",
    },
    # sample_params holds owner, but the spec does not declare it: the calls still lack it
    "TestReadsAnUndeclaredParamGivenIt": {
        "test_declared_actions_accept_their_required_params": "refused with 'Missing owner'",
    },
    "TestNeedsAnOptionalParam": {},  # a warning instead: see below
    "TestSampleParamsFillOptionalParams": {},
    "TestForgetsAnAction": {
        "test_declared_actions_accept_their_required_params": "the spec declares action "
        '\'list\', but a call of it with params {"action": "list"} was refused with '
        "'Unknown action: list': handle 'list' in execute_connector, or remove it from the "
        "spec's actions",
    },
    "TestTrustsTheRuntime": {
        "test_each_required_param_left_out_is_reported": "- execute_connector, called directly "
        'without the required param \'title\' of \'add\' (params {"action": "add", "pin": '
        '"jamey-contract-pin"}), raised KeyError at ',
    },
}


@pytest.mark.parametrize("variant", sorted(SPEC_EXPECTED))
def test_mistakes_once_missed_are_caught_by_default(
    pytester: pytest.Pytester, variant: str
) -> None:
    pytester.makepyfile(test_specs=SPECS)
    reprec = pytester.inline_run(*inner_args("strict"), f"test_specs.py::{variant}")
    expected = SPEC_EXPECTED[variant]
    assert outcomes(reprec) == {
        f"{variant}::{name}": "failed" if name in expected else PASS for name in BATTERY
    }
    for name, fragment in expected.items():
        text = failure_text(reprec, f"{variant}::{name}")
        assert fragment in text, text
        assert "jamey-canary-" not in text


@pytest.mark.parametrize("mode", MODES)
def test_a_correct_connector_with_action_specs_passes_without_a_warning(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_specs=SPECS)
    result = run_inner(pytester, mode, "-W", "error", "test_specs.py::TestNotes")
    result.assert_outcomes(passed=BATTERY_SIZE, warnings=0)


def test_a_connector_that_may_fail_every_call_is_warned(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_specs=SPECS)
    result = run_inner(pytester, "strict", "test_specs.py::TestFailsEveryCallOnPurpose")
    result.assert_outcomes(passed=BATTERY_SIZE, warnings=1)
    result.stdout.fnmatch_lines(
        ["*ConnectorContractWarning: every ordinary call of 'always_fails' failed:*"]
    )


def test_a_call_refused_for_lack_of_an_optional_param_is_a_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_specs=SPECS)
    result = run_inner(pytester, "strict", "test_specs.py::TestNeedsAnOptionalParam")
    result.assert_outcomes(passed=BATTERY_SIZE, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*ConnectorContractWarning: a call of 'add' with its required params (*) was "
            "refused with 'Missing owner', a param the spec declares optional: give it a value "
            "in sample_params (or sample_calls)*"
        ]
    )


def test_a_declared_param_that_merely_contains_a_secret_word_is_not_held_against_a_result(
    pytester: pytest.Pytester,
) -> None:
    # max_tokens is redacted in the audit trail (its name contains "token"), but it is no
    # secret the connector must keep out of its output.
    pytester.makepyfile(
        test_llm="""
from jamey_host import ActionSpec, CapabilityLevel, ConnectorResult, ConnectorSpec, ParamSpec
from jamey_host import hookimpl
from jamey_host.testing import ConnectorContract


class Llm:
    @hookimpl
    def register_connectors(self):
        ask = ActionSpec("ask", params=(ParamSpec("max_tokens", required=True),))
        return [ConnectorSpec(id="llm", name="llm", version="1.0", description="d",
                              capability_level=CapabilityLevel.READ_ONLY, actions=(ask,))]

    @hookimpl
    def execute_connector(self, params):
        if params.get("action") != "ask":
            return ConnectorResult.fail(f"Unknown action: {params.get('action')}")
        if "max_tokens" not in params:
            return ConnectorResult.fail("Missing max_tokens")
        return ConnectorResult.ok(f"answered within max_tokens={params['max_tokens']}")


class TestLlm(ConnectorContract):
    plugin = Llm
    connector_id = "llm"
"""
    )
    result = run_inner(pytester, "strict", "-W", "error", "test_llm.py")
    result.assert_outcomes(passed=BATTERY_SIZE)
