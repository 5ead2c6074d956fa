"""Task, TaskStatus, Message, Part and Artifact: the shapes of A2A-WIRE.md section 6."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from a2a_wire import captured
from jamey_agent_orchestration.net.a2a_wire import (
    InvalidA2A,
    Part,
    TaskState,
    parse_message,
    parse_task,
)


def task_with(**fields: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": "t-1",
        "contextId": "c-1",
        "status": {"state": "TASK_STATE_WORKING"},
    }
    task.update(fields)
    return task


def part_of(part: Any) -> Part:
    message = {"messageId": "m", "role": "ROLE_AGENT", "parts": [part]}
    (parsed,) = parse_message(message).parts
    return parsed


def test_the_captured_echo_task() -> None:
    task = parse_task(captured.SEND_ECHO_RESPONSE["result"]["task"])
    assert (task.id, task.context_id) == ("task-1", "ctx-1")
    assert task.status.state is TaskState.COMPLETED
    assert task.status.timestamp == "2026-12-01T18:52:50.530465Z"
    assert task.status.message is not None
    assert task.status.message.text() == "completed"
    (artifact,) = task.artifacts
    assert artifact.artifact_id == "art-1"
    assert artifact.name == "echo"
    text, data = artifact.parts
    assert text.kind == "text"
    assert text.media_type == "text/plain"
    assert data.kind == "data"
    assert data.data == {"tags": ["a", "b"], "n": 42.0}
    user, agent = task.history
    assert user.role == "ROLE_USER"
    assert [part.kind for part in user.parts] == ["text", "data", "url"]
    assert user.parts[2].url == "https://example.com/a.pdf"
    assert user.parts[2].filename == "a.pdf"
    assert agent.text() == "working"


def test_each_part_kind() -> None:
    raw = part_of(captured.RAW_PART)
    assert (raw.kind, raw.raw, raw.filename, raw.media_type) == (
        "raw",
        "aGVsbG8=",
        "h.txt",
        "text/plain",
    )
    assert part_of({"url": "https://x.example/f"}).kind == "url"
    assert part_of({"text": ""}).kind == "text"
    null = part_of({"data": None})  # a data part holding JSON null is still a data part
    assert (null.kind, null.data) == ("data", None)
    listed = part_of({"data": [1, {"a": []}], "metadata": {"k": "v"}})
    assert listed.data == [1, {"a": []}]
    assert listed.metadata == {"k": "v"}


@pytest.mark.parametrize(
    ("part", "problem"),
    [
        ({}, "must have exactly one of text, raw, url or data"),
        ({"mediaType": "text/plain"}, "must have exactly one of text, raw, url or data"),
        (
            {"text": "a", "data": {}},
            "must have exactly one of text, raw, url or data (has text, data)",
        ),
        (
            {"kind": "text", "text": "a", "url": "u"},
            "must have exactly one of text, raw, url or data (has text, url)",
        ),
        ({"text": 5}, "must be a string"),
        ({"url": ["u"]}, "must be a string"),
        ({"text": "a", "metadata": []}, "must be an object"),
        ("just text", "must be an object"),
        ({"file": {"uri": "https://x"}}, "must have exactly one of text, raw, url or data"),
    ],
)
def test_part_problems(part: Any, problem: str) -> None:
    with pytest.raises(InvalidA2A) as caught:
        part_of(part)
    assert str(caught.value).startswith("Invalid agent response: parts[0]")
    assert str(caught.value).endswith(problem)


def test_every_state_on_the_wire_parses() -> None:
    for state in TaskState:
        assert parse_task(task_with(status={"state": state.value})).status.state is state


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({}, "status.state is missing"),
        ({"state": 3}, "status.state must be a string"),
        (
            {"state": "TASK_STATE_PAUSED"},
            "status.state is not a known task state: 'TASK_STATE_PAUSED'",
        ),
        (
            {"state": "completed"},
            "status.state is not a known task state: 'completed' "
            "(v0.3 spellings such as 'completed' are not A2A v1.0)",
        ),
        ({"state": "TASK_STATE_FAILED", "message": "oops"}, "status.message must be an object"),
        (
            {"state": "TASK_STATE_FAILED", "message": {"role": "ROLE_AGENT", "parts": []}},
            "status.message.messageId is missing",
        ),
    ],
)
def test_status_problems(status: Any, message: str) -> None:
    with pytest.raises(InvalidA2A) as caught:
        parse_task(task_with(status=status))
    assert str(caught.value) == f"Invalid agent response: {message}"


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"contextId": "c", "status": {"state": "TASK_STATE_WORKING"}}, "id is missing"),
        ({"id": "t", "status": {"state": "TASK_STATE_WORKING"}}, "contextId is missing"),
        ({"id": "t", "contextId": "c"}, "status is missing"),
        (task_with(id=""), "id is empty"),
        (task_with(id=12), "id must be a string"),
        (task_with(id="t" * 257), "id is longer than 256 characters"),
        (task_with(id="bad\nid"), "id contains non-printable characters"),
        (task_with(contextId="c\u202eevil"), "contextId contains non-printable characters"),
        (task_with(artifacts={"a": 1}), "artifacts must be a list"),
        (task_with(artifacts=[{"parts": []}]), "artifacts[0].artifactId is missing"),
        (task_with(history=[{"messageId": "m", "parts": []}]), "history[0].role is missing"),
        (task_with(metadata=[1]), "metadata must be an object"),
    ],
)
def test_task_problems(task: Any, message: str) -> None:
    with pytest.raises(InvalidA2A) as caught:
        parse_task(task)
    assert str(caught.value) == f"Invalid agent response: {message}"


def test_a_path_prefix_places_the_task_in_its_answer() -> None:
    with pytest.raises(InvalidA2A) as caught:
        parse_task(task_with(status={}), field="result.task")
    assert str(caught.value) == "Invalid agent response: result.task.status.state is missing"
    assert caught.value.field == "result.task.status.state"
    assert caught.value.problem == "is missing"


def test_unknown_fields_are_ignored_in_tasks() -> None:
    document = copy.deepcopy(captured.SEND_ECHO_RESPONSE["result"]["task"])
    document["kind"] = "task"  # v0.3 leftovers and future fields alike
    document["status"]["future"] = {"x": 1}
    document["artifacts"][0]["parts"][0]["future"] = [1]
    assert parse_task(document) == parse_task(captured.SEND_ECHO_RESPONSE["result"]["task"])


def test_message_text_joins_the_text_parts_only() -> None:
    message = parse_message(
        {
            "messageId": "m",
            "role": "ROLE_AGENT",
            "parts": [{"text": "one"}, {"data": {"x": 1}}, {"text": "two"}],
            "taskId": "t",
            "contextId": "c",
            "referenceTaskIds": ["t0"],
            "extensions": ["https://ext.example/v1"],
        }
    )
    assert message.text() == "one\ntwo"
    assert (message.task_id, message.context_id) == ("t", "c")
    assert message.reference_task_ids == ("t0",)
