"""ConnectorResult: a value class that copies what it is given (contract section 2)."""

from __future__ import annotations

import json

import attrs
import pytest

from jamey_host import ConnectorResult


def test_result_ok_defaults() -> None:
    result = ConnectorResult.ok('{"a": 1}')
    assert result.success is True
    assert result.output == '{"a": 1}'
    assert result.errors == []
    assert result.warnings == []
    assert result.metadata == {}
    assert result.agents_contacted == []
    assert result.json() == {"a": 1}


def test_result_fail_keeps_errors_in_order_and_fields() -> None:
    result = ConnectorResult.fail("first", "second", warnings=["w"], agents_contacted=["a1"])
    assert result.success is False
    assert result.output == ""
    assert result.errors == ["first", "second"]
    assert result.warnings == ["w"]
    assert result.agents_contacted == ["a1"]


def test_result_json_of_text_says_the_output_is_text() -> None:
    with pytest.raises(ValueError, match=r"^ConnectorResult\.output is text") as raised:
        ConnectorResult.ok("Agent registered successfully").json()
    assert type(raised.value) is ValueError  # not a bare JSONDecodeError
    assert str(raised.value) == (
        "ConnectorResult.output is text (29 characters), not JSON: read .output itself (which "
        "actions answer JSON: the connector's docs, or jamey describe)"
    )
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_result_json_of_a_failed_call_says_its_output_is_empty() -> None:
    with pytest.raises(ValueError, match=r"^ConnectorResult\.output of a failed call \(see "):
        ConnectorResult.fail("Missing task").json()
    with pytest.raises(ValueError, match=r"^ConnectorResult\.output is empty, not JSON$"):
        ConnectorResult.ok("  ").json()


def test_result_json_never_shows_the_output() -> None:
    with pytest.raises(ValueError, match="is text") as raised:
        ConnectorResult.ok("patient-record-123 is not json").json()
    assert "patient-record-123" not in str(raised.value)


def test_result_field_types_are_lists_and_dicts_of_str() -> None:
    result = ConnectorResult(
        True, "x", errors=("e",), warnings=("w",), metadata={"n": 1}, agents_contacted=("a",)
    )
    assert type(result.errors) is list
    assert type(result.warnings) is list
    assert type(result.agents_contacted) is list
    assert type(result.metadata) is dict
    assert result.metadata == {"n": "1"}


def test_result_is_mutable_and_defaults_not_shared() -> None:
    first = ConnectorResult.ok()
    first.errors.append("changed")
    first.output = "new"
    assert ConnectorResult.ok().errors == []
    assert first.output == "new"


def test_result_output_must_be_str() -> None:
    with pytest.raises(TypeError, match=r"^ConnectorResult\.output must be a str, not int$"):
        ConnectorResult(True, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^ConnectorResult\.output must be a str, not bytes$"):
        ConnectorResult.ok(b"{}")  # type: ignore[arg-type]
    result = ConnectorResult.ok("kept")
    with pytest.raises(TypeError, match=r"^ConnectorResult\.output must be a str, not NoneType$"):
        result.output = None  # type: ignore[assignment]
    assert result.output == "kept"


def test_result_can_be_evolved_and_compared() -> None:
    result = ConnectorResult.ok("o", metadata={"n": 1}, agents_contacted=("a",))  # type: ignore[dict-item]
    changed = attrs.evolve(result, output="p")
    assert changed == ConnectorResult.ok("p", metadata={"n": "1"}, agents_contacted=["a"])
    assert changed.metadata is not result.metadata
    assert result.output == "o"


def test_result_to_dict_has_the_six_fields() -> None:
    result = ConnectorResult.ok("o", metadata={"k": "v"}, agents_contacted=["a"])
    data = result.to_dict()
    assert data == {
        "success": True,
        "output": "o",
        "errors": [],
        "warnings": [],
        "metadata": {"k": "v"},
        "agents_contacted": ["a"],
    }
    data["errors"].append("x")
    assert result.errors == []
    assert json.loads(json.dumps(data)) == data


def test_result_copies_the_lists_and_dicts_it_is_given() -> None:
    errors, warnings, contacted = ["e"], ["w"], ["a1"]
    metadata = {"k": "v"}
    result = ConnectorResult(
        False, errors=errors, warnings=warnings, metadata=metadata, agents_contacted=contacted
    )
    assert result.errors is not errors
    assert result.warnings is not warnings
    assert result.metadata is not metadata
    assert result.agents_contacted is not contacted
    errors.append("later")
    warnings.append("later")
    metadata["k"] = "changed"
    contacted.append("a2")
    assert result.errors == ["e"]
    assert result.warnings == ["w"]
    assert result.metadata == {"k": "v"}
    assert result.agents_contacted == ["a1"]


def test_result_fields_assigned_later_are_copied_and_normalised_too() -> None:
    result = ConnectorResult.ok()
    errors = ["e"]
    result.errors = errors
    result.metadata = {"n": 1}  # type: ignore[dict-item]
    assert result.errors is not errors
    assert result.metadata == {"n": "1"}
    with pytest.raises(TypeError):
        result.output = 42  # type: ignore[assignment]


def test_ok_and_fail_copy_their_fields() -> None:
    metadata = {"k": "v"}
    ok = ConnectorResult.ok("o", metadata=metadata)
    assert ok.metadata is not metadata
    warnings = ["w"]
    failed = ConnectorResult.fail("e", warnings=warnings)
    assert failed.warnings is not warnings
