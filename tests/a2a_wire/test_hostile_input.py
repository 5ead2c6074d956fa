"""Hostile documents: deep, cyclic, huge, or not JSON at all. Each is refused with InvalidA2A,
quickly, and no RecursionError (or anything else) escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jamey_agent_orchestration.net.a2a_wire import (
    JSONRPC,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_VALUES,
    GetTaskCall,
    InvalidA2A,
    SendMessageCall,
    TaskAnswer,
    parse_agent_card,
    parse_message,
    parse_response,
    parse_task,
    within_bounds,
)

SEND = SendMessageCall(text="x", message_id="m")


def nested(levels: int, leaf: Any = 1) -> Any:
    """``levels`` lists around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def task(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "t",
        "contextId": "c",
        "status": {"state": "TASK_STATE_COMPLETED"},
    }
    document.update(fields)
    return document


def refused(document: Any) -> str:
    with pytest.raises(InvalidA2A) as caught:
        parse_task(document)
    return str(caught.value)


def test_nesting_up_to_the_limit_is_fine() -> None:
    # The task is one level, metadata a second, then the lists.
    parse_task(task(metadata={"deep": nested(MAX_DEPTH - 2)}))


def test_nesting_past_the_limit_is_refused() -> None:
    message = refused(task(metadata={"deep": nested(MAX_DEPTH + 1)}))
    assert (
        message == f"Invalid agent response: the document is nested deeper than {MAX_DEPTH} levels"
    )


@pytest.mark.parametrize("levels", [1_000, 100_000])
def test_absurd_nesting_is_refused_without_recursion_error(levels: int) -> None:
    data_part = {"data": nested(levels)}
    artifacts = [{"artifactId": "a", "parts": [data_part]}]
    assert "nested deeper" in refused(task(artifacts=artifacts))
    card = {"name": "n", "supportedInterfaces": [], "skills": nested(levels, {})}
    with pytest.raises(InvalidA2A, match="nested deeper"):
        parse_agent_card(card)


def test_a_cycle_is_refused_and_does_not_hang() -> None:
    loop: dict[str, Any] = {}
    loop["again"] = loop
    assert "nested deeper" in refused(task(metadata=loop))


def test_too_many_values_are_refused() -> None:
    message = refused(task(metadata={"big": [0] * MAX_VALUES}))
    assert message == f"Invalid agent response: the document holds more than {MAX_VALUES} values"


def test_lists_longer_than_max_items_are_refused_before_they_are_read() -> None:
    parts = [{"text": "x"}] * (MAX_ITEMS + 1)
    message = refused(task(artifacts=[{"artifactId": "a", "parts": parts}]))
    assert message == (
        f"Invalid agent response: artifacts[0].parts has more than {MAX_ITEMS} entries"
    )
    history = [{"messageId": "m", "role": "ROLE_USER"}] * (MAX_ITEMS + 1)
    assert refused(task(history=history)).endswith(f"history has more than {MAX_ITEMS} entries")


def test_maps_larger_than_max_items_are_refused() -> None:
    schemes = {f"s{i}": {"mtlsSecurityScheme": {}} for i in range(MAX_ITEMS + 1)}
    with pytest.raises(InvalidA2A, match=f"securitySchemes has more than {MAX_ITEMS} entries"):
        parse_agent_card({"name": "n", "supportedInterfaces": [], "securitySchemes": schemes})


def test_non_finite_numbers_are_refused() -> None:
    infinite = json.loads('{"n": 1e400}')  # valid JSON text that parses as infinity
    assert "not finite" in refused(task(metadata=infinite))
    assert "not finite" in refused(task(metadata={"n": float("nan")}))


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), (1, 2), 1j])
def test_values_that_are_not_json_are_refused(value: Any) -> None:
    assert refused(task(metadata={"v": value})) == (
        "Invalid agent response: the document holds a value that is not JSON"
    )


@pytest.mark.parametrize("document", [None, 1, "task", [], True, 1.5])
def test_every_parser_refuses_a_document_that_is_not_an_object(document: Any) -> None:
    for parse in (parse_task, parse_message, parse_agent_card):
        with pytest.raises(InvalidA2A, match="the document must be an object"):
            parse(document)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ["t"]),
        ("id", {"t": 1}),
        ("id", None),
        ("contextId", 1.0),
        ("status", "TASK_STATE_COMPLETED"),
        ("status", [{"state": "TASK_STATE_COMPLETED"}]),
        ("artifacts", "none"),
        ("history", {"0": {}}),
    ],
)
def test_wrong_types_where_the_connector_relies_on_the_field(field: str, value: Any) -> None:
    assert refused(task(**{field: value})).startswith(f"Invalid agent response: {field} must be")


def test_big_text_is_fine_it_is_the_transport_that_bounds_the_size() -> None:
    text = "x" * 2_000_000
    artifacts = [{"artifactId": "a", "parts": [{"text": text}]}]
    (artifact,) = parse_task(task(artifacts=artifacts)).artifacts
    assert artifact.parts[0].text == text


def test_a_huge_error_message_is_cut() -> None:
    document = {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "e" * 5_000_000}}
    outcome = parse_response(JSONRPC, SEND, status=200, document=document)
    assert outcome.describe() == "Agent returned error: 1 " + "e" * 200


def test_a_deep_error_object_is_refused() -> None:
    document = {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": 1, "message": "m", "data": nested(500)},
    }
    with pytest.raises(InvalidA2A, match="nested deeper"):
        parse_response(JSONRPC, SEND, status=200, document=document)


def test_a_deep_unknown_field_of_a_task_is_refused_too() -> None:
    # Unknown fields go out with the Task JSON, so they are bounded like the rest.
    document = {"jsonrpc": "2.0", "id": 1, "result": task(future=nested(500))}
    with pytest.raises(InvalidA2A) as caught:
        parse_response(JSONRPC, GetTaskCall(task_id="t"), status=200, document=document)
    assert str(caught.value) == (
        f"Invalid agent response: result is nested deeper than {MAX_DEPTH} levels"
    )


def test_a_good_answer_next_to_the_limits_still_parses() -> None:
    parts = [{"text": "x"}] * MAX_ITEMS
    history = [{"messageId": "m", "role": "ROLE_USER", "parts": parts}]
    document = {"jsonrpc": "2.0", "id": 1, "result": {"task": task(history=history)}}
    outcome = parse_response(JSONRPC, SEND, status=200, document=document)
    assert isinstance(outcome, TaskAnswer)
    assert len(outcome.task.history[0].parts) == MAX_ITEMS


def test_a_short_text_with_few_brackets_is_within_bounds() -> None:
    text = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"task": task()}})
    assert within_bounds(text)
    assert within_bounds("")
    assert within_bounds("1")


def test_a_text_is_not_vouched_for_when_its_brackets_or_length_could_exceed_the_bounds() -> None:
    assert not within_bounds(json.dumps(nested(MAX_DEPTH + 1)))
    # Many brackets, not deep: the text proves nothing, so the document is walked (and passes).
    wide = task(metadata={"lists": [[] for _ in range(MAX_DEPTH)]})
    assert not within_bounds(json.dumps(wide))
    assert parse_task(json.loads(json.dumps(wide))).id == "t"
    assert not within_bounds(" " * (MAX_VALUES + 1))


def test_a_document_deeper_than_its_text_allows_is_still_walked_unless_vouched_for() -> None:
    answer = {"jsonrpc": "2.0", "id": 1, "result": {"task": task(metadata=nested(MAX_DEPTH + 1))}}
    with pytest.raises(InvalidA2A, match="nested deeper"):
        parse_response(JSONRPC, SEND, status=200, document=answer)
    # bounded=True is the caller's word that within_bounds held for the text it parsed.
    assert isinstance(
        parse_response(JSONRPC, SEND, status=200, document=answer, bounded=True), TaskAnswer
    )
