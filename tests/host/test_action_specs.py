"""Action specs: what each action takes, checked before the plugin is called (section 10)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import attrs
import jsonschema
import pytest

from jamey_host import (
    AUDIT_LOGGER_NAME,
    ActionSpec,
    AuditEvent,
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    ParamSpec,
    Runtime,
    RuntimeConfig,
)
from jamey_host.testing import JameyTestingAuditRecorder

from .plugins import Approver, ConnectorPlugin

REGISTER = ActionSpec(
    "register",
    "Registers a thing",
    params=(
        ParamSpec("agent_id", "unique id", required=True),
        ParamSpec("name", "shown to people", required=True),
        ParamSpec("pin", "the thing's PIN", required=True, secret=True),
        ParamSpec("tags", "comma-separated"),
    ),
)
SEND = ActionSpec(
    "send",
    "Sends a task",
    params=(ParamSpec("task", required=True), ParamSpec("param_*", "task params")),
)


def make(actions: Any = (REGISTER, SEND, "ping"), **overrides: Any) -> ConnectorSpec:
    fields: dict[str, Any] = {
        "id": "thing",
        "name": "Thing",
        "version": "1.0.0",
        "description": "d",
        "capability_level": CapabilityLevel.READ_ONLY,
        "actions": actions,
    }
    fields.update(overrides)
    return ConnectorSpec(**fields)


# -- the types ---------------------------------------------------------------------------------


def test_both_types_are_frozen_attrs_classes_exported_by_jamey_host() -> None:
    import jamey_host

    assert {"ActionSpec", "ParamSpec"} <= set(jamey_host.__all__)
    param = ParamSpec("task")
    assert (param.description, param.required, param.secret) == ("", False, False)
    assert attrs.has(ParamSpec)
    assert attrs.has(ActionSpec)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        param.required = True  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        REGISTER.params = ()  # type: ignore[misc]
    assert ActionSpec("go") == ActionSpec("go", "", ())
    assert REGISTER.required == ("agent_id", "name", "pin")


@pytest.mark.parametrize("name", ["", "bad name", "1x", "a*b", "*", "é", "param_**"])
def test_an_invalid_param_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"ParamSpec\.name"):
        ParamSpec(name)


def test_a_family_is_named_with_a_star_and_cannot_be_required() -> None:
    family = ParamSpec("param_*")
    assert family.family
    assert family.prefix == "param_"
    assert family.matches("param_text")
    assert not family.matches("param_")
    assert not family.matches("x")
    assert ParamSpec("task").matches("task")
    assert not ParamSpec("task").matches("task_2")
    with pytest.raises(ValueError, match="family of params: it cannot be required"):
        ParamSpec("param_*", required=True)


def test_the_action_param_is_the_action_spec_itself() -> None:
    with pytest.raises(ValueError, match="'action' is reserved"):
        ParamSpec("action")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "x", "required": "yes"}, r"ParamSpec\.required must be True or False"),
        ({"name": "x", "secret": 1}, r"ParamSpec\.secret must be True or False"),
        ({"name": "x", "description": None}, r"ParamSpec\.description must be a str"),
    ],
)
def test_param_fields_of_the_wrong_type_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParamSpec(**fields)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (("task",), "holds 'task', not a ParamSpec"),
        (ParamSpec("task"), "a sequence of ParamSpec objects, not one"),
        ((ParamSpec("task"), ParamSpec("task", required=True)), "lists task twice"),
    ],
)
def test_action_params_must_be_distinct_param_specs(params: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ActionSpec("go", params=params)


@pytest.mark.parametrize("name", ["", "bad action", "1go"])
def test_an_invalid_action_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"ActionSpec\.name"):
        ActionSpec(name)


# -- ConnectorSpec -----------------------------------------------------------------------------


def test_actions_take_specs_and_names_and_stay_a_tuple_of_names() -> None:
    spec = make()
    assert spec.actions == ("register", "send", "ping")
    assert spec.action_specs == (REGISTER, SEND, ActionSpec("ping"))
    assert spec.action_spec("send") is SEND
    assert make(actions=["a", "b"]).action_specs == (ActionSpec("a"), ActionSpec("b"))
    assert attrs.evolve(spec, actions=("x",)).actions == ("x",)
    assert make() == make()
    assert hash(make()) == hash(make())


@pytest.mark.parametrize(
    "actions", [("register", REGISTER), (ActionSpec("a"), "a"), (REGISTER, 3), REGISTER]
)
def test_an_action_listed_twice_or_not_an_action_is_refused(actions: Any) -> None:
    with pytest.raises(ValueError, match=r"ConnectorSpec\.actions"):
        make(actions=actions)


def test_an_unknown_action_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="connector 'thing' has no action 'nope'"):
        make().action_spec("nope")
    with pytest.raises(KeyError, match="nope"):
        make().json_schema("nope")


def test_missing_params_are_listed_in_spec_order_an_empty_value_counting_as_given() -> None:
    spec = make()
    assert spec.missing_params("register", {}) == ["agent_id", "name", "pin"]
    assert spec.missing_params("register", {"pin": "", "name": "n"}) == ["agent_id"]
    assert spec.missing_params("send", {"task": ""}) == []
    assert spec.missing_params("ping", {}) == []
    assert spec.missing_params("nope", {}) == []
    assert spec.missing_params(None, {}) == []


def test_secret_params_are_known_by_name_and_by_family() -> None:
    spec = make(actions=(REGISTER, ActionSpec("go", params=(ParamSpec("key_*", secret=True),))))
    assert spec.has_secret_params
    assert spec.is_secret_param("pin")
    assert spec.is_secret_param("key_1")
    assert not spec.is_secret_param("key_")
    assert not spec.is_secret_param("name")
    assert not make(actions=("a", SEND)).has_secret_params


def test_to_dict_lists_each_action_with_its_params() -> None:
    data = make().to_dict()
    assert data["actions"][0] == {
        "name": "register",
        "description": "Registers a thing",
        "params": [
            {"name": "agent_id", "description": "unique id", "required": True, "secret": False},
            {"name": "name", "description": "shown to people", "required": True, "secret": False},
            {"name": "pin", "description": "the thing's PIN", "required": True, "secret": True},
            {"name": "tags", "description": "comma-separated", "required": False, "secret": False},
        ],
    }
    assert data["actions"][2] == {"name": "ping", "description": "", "params": []}
    json.dumps(data)


# -- JSON Schema -------------------------------------------------------------------------------


def test_the_json_schema_is_a_valid_2020_12_schema_of_the_params() -> None:
    schema = make().json_schema("register")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator
    assert schema["type"] == "object"
    assert schema["description"] == "Registers a thing"
    assert schema["properties"]["agent_id"] == {"type": "string", "description": "unique id"}
    assert schema["properties"]["pin"]["writeOnly"] is True
    assert schema["required"] == ["agent_id", "name", "pin"]
    assert "action" not in schema["properties"]
    json.dumps(schema)


@pytest.mark.parametrize(
    ("action", "instance", "valid"),
    [
        ("register", {"agent_id": "a", "name": "n", "pin": "1"}, True),
        ("register", {"agent_id": "a", "name": "n", "pin": "1", "tags": "x,y"}, True),
        ("register", {"agent_id": "a", "name": "n"}, False),  # pin missing
        ("register", {"agent_id": "a", "name": "n", "pin": 1}, False),  # not a string
        # a param the spec does not declare is the connector's to judge, as in a call
        ("register", {"agent_id": "a", "name": "n", "pin": "1", "bogus": "x"}, True),
        ("send", {"task": "t", "param_text": "hi", "param_n": "2"}, True),
        ("send", {"task": "t", "text": "hi"}, True),  # not of the param_* family: undeclared
        ("send", {"task": "t", "param_text": 1}, False),  # of the family, so a string
        ("send", {"task": "t", "param_n": 2}, False),
        ("send", {}, False),
        ("ping", {}, True),
        ("ping", {"x": "1"}, True),
        ("ping", {"x": 1}, True),  # undeclared, so not described either
    ],
)
def test_a_validator_reads_the_schema_as_the_runtime_checks_calls(
    action: str, instance: dict[str, Any], valid: bool
) -> None:
    validator = jsonschema.Draft202012Validator(make().json_schema(action))
    assert validator.is_valid(instance) is valid


def test_a_family_is_a_pattern_property() -> None:
    schema = make().json_schema("send")
    assert schema["patternProperties"] == {
        "^param_": {"type": "string", "description": "task params"}
    }
    assert schema["properties"] == {"task": {"type": "string", "description": ""}}
    assert schema["required"] == ["task"]
    assert "patternProperties" not in make().json_schema("ping")


# -- the runtime's check -----------------------------------------------------------------------


def spec_plugin(**overrides: Any) -> ConnectorPlugin:
    plugin = ConnectorPlugin()
    plugin.spec = make(**overrides)
    return plugin


async def test_every_missing_required_param_is_reported_at_once_and_the_plugin_not_called(
    jamey_audit_events: list[AuditEvent],
) -> None:
    plugin = spec_plugin()
    events: list[AuditEvent] = []
    async with Runtime(
        plugins=[plugin, JameyTestingAuditRecorder(events)], load_entrypoints=False
    ) as runtime:
        result = await runtime.execute_connector("thing", {"action": "register", "name": ""})
    assert not result.success
    assert result.errors == ["Missing agent_id", "Missing pin"]
    assert plugin.calls == []
    (execute,) = events
    assert execute.event == "connector.execute"
    assert execute.outcome == "failure"
    assert execute.error == "Missing agent_id; Missing pin"


@pytest.mark.parametrize(
    "params",
    [
        {"action": "register", "agent_id": "", "name": "", "pin": ""},  # empty counts as given
        {"action": "send", "task": "t", "extra": "1"},
        {"action": "ping"},
        {"action": "not_declared"},  # the connector says "Unknown action"
        {},  # the connector says "Missing 'action' parameter"
    ],
)
async def test_calls_with_their_required_params_or_no_declared_action_reach_the_plugin(
    params: dict[str, str],
) -> None:
    plugin = spec_plugin()
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", params)
    assert result.success
    assert [call_params for _, call_params, _ in plugin.calls] == [params]


async def test_gating_comes_before_the_params_check() -> None:
    plugin = spec_plugin(capability_level=CapabilityLevel.SYSTEM_ADMIN)
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", {"action": "register"})
    assert result.errors[0].startswith("Capability denied:")
    assert len(result.errors) == 1


# -- secret params -----------------------------------------------------------------------------

PIN = "4711-canary-pin"


def audits_the_pin(name: str, params: Mapping[str, str], context: ExecutionContext) -> Any:
    context.audit("thing.registered", outcome="success", received=params.get("pin"))
    context.annotate(note=f"pin was {params.get('pin')}")
    return ConnectorResult.ok("done")


async def test_a_secret_param_is_redacted_in_every_event_of_the_call_whatever_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    plugin = spec_plugin()
    plugin.behaviour = audits_the_pin
    events: list[AuditEvent] = []
    async with Runtime(
        plugins=[plugin, JameyTestingAuditRecorder(events)], load_entrypoints=False
    ) as runtime:
        params = {"action": "register", "agent_id": "a", "name": "n", "pin": PIN}
        assert (await runtime.execute_connector("thing", params)).success
        # a param declared secret in any action is secret in every call of the connector
        await runtime.execute_connector("thing", {"action": "send", "task": "t", "pin": PIN})
    registered, execute, _, sent = events
    assert registered.details == {"received": "***"}
    assert execute.details["params"] == {
        "action": "register",
        "agent_id": "a",
        "name": "n",
        "pin": "***",
    }
    assert execute.details["note"] == "pin was ***"
    assert sent.details["params"]["pin"] == "***"
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert len(lines) == 4
    assert PIN not in "".join(lines) + "".join(event.to_json() for event in events)


async def test_a_value_under_a_secret_looking_name_is_hidden_under_any_other_name() -> None:
    plugin = ConnectorPlugin(behaviour=audits_the_pin_as_key)
    events: list[AuditEvent] = []
    async with Runtime(
        plugins=[plugin, JameyTestingAuditRecorder(events)], load_entrypoints=False
    ) as runtime:
        await runtime.execute_connector("thing", {"action": "go", "api_key": PIN})
    assert PIN not in "".join(event.to_json() for event in events)
    refused, execute = events
    assert refused.details == {"received": "***"}
    assert execute.error == "key *** refused"


def audits_the_pin_as_key(name: str, params: Mapping[str, str], context: ExecutionContext) -> Any:
    context.audit("thing.refused", outcome="failure", received=params["api_key"])
    return ConnectorResult.fail(f"key {params['api_key']} refused")


async def test_a_secret_param_is_redacted_in_the_approval_request() -> None:
    plugin = spec_plugin(requires_approval=True)
    approver = Approver(True)
    async with Runtime(plugins=[plugin, approver], load_entrypoints=False) as runtime:
        params = {"action": "register", "agent_id": "a", "name": "n", "pin": PIN}
        assert (await runtime.execute_connector("thing", params)).success
    (request,) = approver.requests
    assert request.params == {"action": "register", "agent_id": "a", "name": "n", "pin": "***"}


async def test_the_runtimes_log_of_a_plugin_exception_never_holds_a_secret_param(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    def raises(name: str, params: Mapping[str, str], context: ExecutionContext) -> Any:
        raise ValueError(f"cannot register with pin {params['pin']}")

    plugin = spec_plugin()
    plugin.behaviour = raises
    async with Runtime(RuntimeConfig(), plugins=[plugin], load_entrypoints=False) as runtime:
        params = {"action": "register", "agent_id": "a", "name": "n", "pin": PIN}
        result = await runtime.execute_connector("thing", params)
    assert result.errors == ["Connector thing failed: ValueError (details in the jamey_host log)"]
    (record,) = [r for r in caplog.records if r.name == "jamey_host"]
    text = caplog.text
    assert "ValueError: cannot register with pin ***" in record.getMessage()
    assert "Traceback (most recent call last)" in record.getMessage()
    assert PIN not in text
