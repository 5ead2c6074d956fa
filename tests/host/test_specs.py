"""ConnectorSpec validation, capability levels and PluginInfo (contract section 2)."""

from __future__ import annotations

import attrs
import pytest

from jamey_host import CapabilityLevel, ConnectorSpec, PluginInfo


def make(**overrides: object) -> ConnectorSpec:
    fields: dict[str, object] = {
        "id": "web_search",
        "name": "Web search",
        "version": "1.0.0",
        "description": "Searches",
        "capability_level": CapabilityLevel.WEB_ACCESS,
    }
    fields.update(overrides)
    return ConnectorSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "good_id", ["a", "echo", "web_search", "a1", "agent_orchestration", "x_1_y2"]
)
def test_valid_connector_ids_are_accepted(good_id: str) -> None:
    assert make(id=good_id).id == good_id


@pytest.mark.parametrize(
    "bad_id",
    ["", "Echo", "web-search", "1abc", "_a", "a_", "a__b", "web search", "é", "a.b", "ECHO"],
)
def test_invalid_connector_ids_raise_value_error(bad_id: str) -> None:
    with pytest.raises(ValueError, match=r"ConnectorSpec\.id"):
        make(id=bad_id)


def test_non_string_id_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"ConnectorSpec\.id"):
        make(id=42)


def test_capability_accepts_enum_and_value_and_rejects_unknown() -> None:
    assert make(capability_level="read_only").capability_level is CapabilityLevel.READ_ONLY
    with pytest.raises(ValueError, match="capability_level"):
        make(capability_level="root")


@pytest.mark.parametrize("field", ["name", "version"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_name_or_version_raises(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        make(**{field: value})


def test_actions_become_a_tuple_and_defaults() -> None:
    spec = make(actions=["search", "fetch"])
    assert spec.actions == ("search", "fetch")
    assert make().actions == ()
    assert make().requires_approval is False


@pytest.mark.parametrize("actions", ["search", ("a", "a"), ("bad action",), ("",), (1,)])
def test_invalid_actions_raise(actions: object) -> None:
    with pytest.raises(ValueError, match="actions"):
        make(actions=actions)


def test_requires_approval_must_be_bool() -> None:
    with pytest.raises(TypeError):
        make(requires_approval="yes")


def test_spec_is_frozen_and_to_dict() -> None:
    spec = make(actions=("search",), requires_approval=True)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.id = "other"  # type: ignore[misc]
    assert spec.to_dict() == {
        "id": "web_search",
        "name": "Web search",
        "version": "1.0.0",
        "description": "Searches",
        "capability_level": "web_access",
        "requires_approval": True,
        "actions": [{"name": "search", "description": "", "params": []}],
    }


def test_capability_levels_have_contract_values() -> None:
    assert {level.name: level.value for level in CapabilityLevel} == {
        "READ_ONLY": "read_only",
        "READ_WRITE": "read_write",
        "SYSTEM_ADMIN": "system_admin",
        "SELF_MODIFY": "self_modify",
        "NETWORK_ACCESS": "network_access",
        "WEB_ACCESS": "web_access",
        "CLOUD_ACCESS": "cloud_access",
        "AGENT_ORCHESTRATION": "agent_orchestration",
        "FULL_ACCESS": "full_access",
    }


def test_plugin_info_fields_and_to_dict() -> None:
    info = PluginInfo("p", "1.0", "active", None, ("a", "b"))
    assert (info.name, info.version, info.status, info.error, info.connectors) == (
        "p",
        "1.0",
        "active",
        None,
        ("a", "b"),
    )
    assert info.to_dict() == {
        "name": "p",
        "version": "1.0",
        "status": "active",
        "error": None,
        "connectors": ["a", "b"],
    }
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.status = "failed"  # type: ignore[misc]
    assert PluginInfo("q", None, "failed", "why").connectors == ()
