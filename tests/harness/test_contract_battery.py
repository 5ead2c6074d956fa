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
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(
        [
            "FAILED *TestSloppy::test_unknown_action_fails_through_runtime*",
            "FAILED *TestSloppy::test_unknown_action_never_raises_when_called_directly*",
            "FAILED *TestSloppy::test_every_result_is_a_connector_result*",
            "FAILED *TestSloppy::test_no_secret_in_audit_events_results_or_logs*",
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
    """Echoing params (as the contract's own example does) passes unless results are checked."""
    plugin = EchoesSecret
    connector_id = "echoes_secret"


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
    result.assert_outcomes(passed=BATTERY_SIZE, warnings=6)  # 2 unknown-action, 4 missing
    result.stdout.fnmatch_lines(
        [
            "*ConnectorContractWarning: an unknown action (params "
            '{"action": "jamey_contract_no_such_action"}) gave success=True: consider checking '
            "the params and returning ConnectorResult.fail(*",
        ]
    )
