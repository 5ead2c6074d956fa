"""Reading answers: parse_response on the captured JSON of A2A-WIRE.md, and the success rule of
send_task (contract section 7)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from a2a_wire import captured
from jamey_agent_orchestration.net.a2a_wire import (
    HTTP_JSON,
    JSONRPC,
    AgentError,
    CancelTaskCall,
    ErrorStatus,
    GetTaskCall,
    InvalidA2A,
    MessageAnswer,
    SendMessageCall,
    TaskAnswer,
    TaskState,
    Verdict,
    clean_text,
    parse_response,
    send_verdict,
)

SEND = SendMessageCall(text="hello peer", message_id="msg-1")
GET = GetTaskCall(task_id="task-1")
CANCEL = CancelTaskCall(task_id="task-1")


def rpc_result(result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def test_jsonrpc_send_answers_the_task_without_its_wrapper() -> None:
    outcome = parse_response(JSONRPC, SEND, status=200, document=captured.SEND_ECHO_RESPONSE)
    assert isinstance(outcome, TaskAnswer)
    assert outcome.json is captured.SEND_ECHO_RESPONSE["result"]["task"]  # as received
    assert outcome.task.status.state is TaskState.COMPLETED
    assert outcome.metadata() == {
        "protocol": "a2a",
        "task_id": "task-1",
        "context_id": "ctx-1",
        "state": "TASK_STATE_COMPLETED",
    }


def test_jsonrpc_send_may_answer_a_message() -> None:
    message = {"messageId": "m-2", "role": "ROLE_AGENT", "parts": [{"text": "hi"}]}
    outcome = parse_response(JSONRPC, SEND, status=200, document=rpc_result({"message": message}))
    assert isinstance(outcome, MessageAnswer)
    assert outcome.message.text() == "hi"
    assert outcome.json == message
    assert outcome.metadata() == {"protocol": "a2a"}


def test_get_and_cancel_answer_a_bare_task() -> None:
    task = captured.SEND_ECHO_RESPONSE["result"]["task"]
    for call in (GET, CANCEL):
        outcome = parse_response(JSONRPC, call, status=200, document=rpc_result(task))
        assert isinstance(outcome, TaskAnswer)
        assert outcome.task.id == "task-1"
        rest = parse_response(HTTP_JSON, call, status=200, document=task)
        assert isinstance(rest, TaskAnswer)
        assert rest.task == outcome.task


def test_a_wrapped_task_where_a_bare_one_belongs_is_invalid() -> None:
    with pytest.raises(InvalidA2A) as caught:
        parse_response(JSONRPC, GET, status=200, document=captured.SEND_ECHO_RESPONSE)
    assert str(caught.value) == "Invalid agent response: result.id is missing"


def test_rest_send_answers_the_wrapped_task() -> None:
    outcome = parse_response(
        HTTP_JSON, SEND, status=200, document=captured.REST_SEND_RETURN_IMMEDIATELY
    )
    assert isinstance(outcome, TaskAnswer)
    assert outcome.task.status.state is TaskState.SUBMITTED


@pytest.mark.parametrize(
    ("document", "code", "message", "reason"),
    [
        (captured.TASK_NOT_FOUND, -32001, "Task not found", "TASK_NOT_FOUND"),
        (
            captured.VERSION_NOT_SUPPORTED,
            -32009,
            "A2A version '0.3' is not supported by this handler. Expected version '1.0'.",
            "VERSION_NOT_SUPPORTED",
        ),
        (captured.VALIDATION_FAILED, -32602, "Validation failed", "INVALID_PARAMS"),
        (captured.METHOD_NOT_FOUND, -32601, "Method not found", None),
        (captured.PARSE_ERROR, -32700, "Expecting value: line 1 column 12 (char 11)", None),
    ],
)
def test_captured_jsonrpc_errors(
    document: Any, code: int, message: str, reason: str | None
) -> None:
    outcome = parse_response(JSONRPC, GET, status=200, document=document)
    assert outcome == AgentError(code=code, message=message, reason=reason)
    assert outcome.describe() == f"Agent returned error: {code} {message}"


def test_rest_error_objects_take_the_http_status_as_code() -> None:
    outcome = parse_response(HTTP_JSON, GET, status=404, document=captured.REST_TASK_NOT_FOUND)
    assert outcome == AgentError(code=404, message="Task not found", reason="TASK_NOT_FOUND")
    assert outcome.describe() == "Agent returned error: 404 Task not found"
    crash = parse_response(HTTP_JSON, SEND, status=500, document=captured.REST_EXECUTOR_CRASH)
    assert crash.describe() == "Agent returned error: 500 unknown exception"
    gate = parse_response(HTTP_JSON, SEND, status=401, document=captured.PEER_UNAUTHENTICATED)
    assert gate.describe() == "Agent returned error: 401 missing bearer token"


@pytest.mark.parametrize(
    ("binding", "status", "document", "message"),
    [
        (HTTP_JSON, 404, None, None),  # "Not Found" as text/plain: no JSON at all
        (HTTP_JSON, 503, {"detail": "overloaded"}, None),
        (HTTP_JSON, 502, {"error": "bad gateway"}, "bad gateway"),
        (HTTP_JSON, 400, {"error": {"code": 400}}, None),  # no message: not an error object
        # Not a JSON-RPC envelope, but the agent's message is kept.
        (JSONRPC, 401, captured.PEER_UNAUTHENTICATED, "missing bearer token"),
        (JSONRPC, 503, None, None),
        (JSONRPC, 405, "Method Not Allowed", None),
        (JSONRPC, 502, {"error": "upstream\x1b[31m down\n"}, "upstream[31m down"),
    ],
)
def test_other_non_2xx_answers_are_an_error_status(
    binding: Any, status: int, document: Any, message: str | None
) -> None:
    outcome = parse_response(binding, SEND, status=status, document=document)
    assert outcome == ErrorStatus(status=status, message=message)
    suffix = f": {message}" if message else ""
    assert outcome.describe() == f"Agent returned error status: {status}{suffix}"


def test_a_jsonrpc_error_object_counts_whatever_the_http_status() -> None:
    outcome = parse_response(JSONRPC, GET, status=500, document=captured.TASK_NOT_FOUND)
    assert outcome.describe() == "Agent returned error: -32001 Task not found"


def test_the_agents_error_message_is_cleaned_and_cut() -> None:
    hostile = "line one\nline two\r\n\x1b[31mred\x1b[0m \u202etxt.exe\u200b " + "z" * 500
    document = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": hostile}}
    outcome = parse_response(JSONRPC, SEND, status=200, document=document)
    assert isinstance(outcome, AgentError)
    assert outcome.message.startswith("line one line two [31mred[0m txt.exe z")
    assert len(outcome.message) == 200
    assert outcome.message.isprintable()
    assert len(outcome.describe()) == len("Agent returned error: -32603 ") + 200


@pytest.mark.parametrize(
    ("binding", "document", "message"),
    [
        (JSONRPC, None, "Invalid agent response: the document is not a JSON object"),
        (JSONRPC, [1], "Invalid agent response: the document is not a JSON object"),
        (JSONRPC, {"result": {}}, 'Invalid agent response: jsonrpc is not "2.0"'),
        (
            JSONRPC,
            {"jsonrpc": "2.0", "id": 1},
            "Invalid agent response: the document has neither result nor error",
        ),
        (
            JSONRPC,
            rpc_result({}),
            "Invalid agent response: result must hold exactly one of task or message, not neither",
        ),
        (
            JSONRPC,
            rpc_result({"task": captured.FAILED_TASK, "message": {}}),
            "Invalid agent response: result must hold exactly one of task or message, not both",
        ),
        (JSONRPC, rpc_result("done"), "Invalid agent response: result must be an object"),
        (
            JSONRPC,
            rpc_result({"task": {"id": "t", "contextId": "c", "status": {"state": "done"}}}),
            "Invalid agent response: result.task.status.state is not a known task state: 'done' "
            "(v0.3 spellings such as 'completed' are not A2A v1.0)",
        ),
        (
            JSONRPC,
            {"jsonrpc": "2.0", "error": {"code": "-32001", "message": "x"}},
            "Invalid agent response: error.code must be an integer",
        ),
        (
            JSONRPC,
            {"jsonrpc": "2.0", "error": {"code": True, "message": "x"}},
            "Invalid agent response: error.code must be an integer",
        ),
        (
            JSONRPC,
            {"jsonrpc": "2.0", "error": {"code": 1, "message": ["x"]}},
            "Invalid agent response: error.message must be a string",
        ),
        (
            JSONRPC,
            {"jsonrpc": "2.0", "error": "boom"},
            "Invalid agent response: error must be an object",
        ),
        (HTTP_JSON, None, "Invalid agent response: the document must be an object"),
        (
            HTTP_JSON,
            {"message": {"messageId": "m", "parts": []}},
            "Invalid agent response: message.role is missing",
        ),
    ],
)
def test_2xx_answers_that_are_not_a2a(binding: Any, document: Any, message: str) -> None:
    with pytest.raises(InvalidA2A) as caught:
        parse_response(binding, SEND, status=200, document=document)
    assert str(caught.value) == message


def test_an_error_object_without_message_gives_no_trailing_space() -> None:
    document = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000}}
    outcome = parse_response(JSONRPC, SEND, status=200, document=document)
    assert outcome.describe() == "Agent returned error: -32000"


# --- send_verdict ---


def task_answer(state: str, text: str | None = None) -> TaskAnswer:
    status: dict[str, Any] = {"state": state}
    if text is not None:
        status["message"] = {"messageId": "s", "role": "ROLE_AGENT", "parts": [{"text": text}]}
    task = {"id": "t", "contextId": "c", "status": status}
    outcome = parse_response(HTTP_JSON, GET, status=200, document=task)
    assert isinstance(outcome, TaskAnswer)
    return outcome


@pytest.mark.parametrize("wait", [True, False])
def test_completed_and_messages_succeed(wait: bool) -> None:
    assert send_verdict(task_answer("TASK_STATE_COMPLETED", "done"), wait=wait) == Verdict(
        success=True
    )
    message = parse_response(
        JSONRPC,
        SEND,
        status=200,
        document=rpc_result({"message": {"messageId": "m", "role": "ROLE_AGENT"}}),
    )
    assert send_verdict(message, wait=wait) == Verdict(success=True)


@pytest.mark.parametrize("state", ["TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"])
@pytest.mark.parametrize("wait", [True, False])
def test_interrupted_states_succeed_with_a_warning_naming_the_state(state: str, wait: bool) -> None:
    verdict = send_verdict(task_answer(state, "need more input"), wait=wait)
    assert verdict == Verdict(
        success=True, warning=f"Agent task is in state {state}: need more input"
    )


@pytest.mark.parametrize("state", ["TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"])
def test_running_states_succeed_only_without_waiting(state: str) -> None:
    assert send_verdict(task_answer(state), wait=False) == Verdict(success=True)
    assert send_verdict(task_answer(state, "working"), wait=True) == Verdict(
        success=False, error=f"Agent task is still in state {state}: working"
    )


@pytest.mark.parametrize(
    "state", ["TASK_STATE_FAILED", "TASK_STATE_REJECTED", "TASK_STATE_CANCELED"]
)
@pytest.mark.parametrize("wait", [True, False])
def test_ended_badly_fails_with_the_state_and_the_agents_text(state: str, wait: bool) -> None:
    assert send_verdict(task_answer(state, "simulated\nfailure"), wait=wait) == Verdict(
        success=False, error=f"Agent task ended in state {state}: simulated failure"
    )
    assert send_verdict(task_answer(state), wait=wait).error == f"Agent task ended in state {state}"


def test_the_captured_failed_task_fails() -> None:
    outcome = parse_response(
        JSONRPC, SEND, status=200, document=rpc_result({"task": captured.FAILED_TASK})
    )
    assert send_verdict(outcome, wait=True).error == (
        "Agent task ended in state TASK_STATE_FAILED: simulated failure"
    )


def test_status_text_in_a_verdict_is_cut_to_200() -> None:
    verdict = send_verdict(task_answer("TASK_STATE_FAILED", "y" * 1000), wait=True)
    assert verdict.error == "Agent task ended in state TASK_STATE_FAILED: " + "y" * 200


def test_errors_fail_with_their_description() -> None:
    assert send_verdict(ErrorStatus(status=503), wait=True) == Verdict(
        success=False, error="Agent returned error status: 503"
    )
    error = AgentError(code=-32001, message="Task not found")
    assert send_verdict(error, wait=False).error == "Agent returned error: -32001 Task not found"


def test_unspecified_state_fails() -> None:
    verdict = send_verdict(task_answer("TASK_STATE_UNSPECIFIED"), wait=True)
    assert verdict.error == "Agent task ended in state TASK_STATE_UNSPECIFIED"


def test_clean_text() -> None:
    assert clean_text("  a\t\tb\n\nc  ") == "a b c"
    assert clean_text("a\x00b\x7fc\u200bd\u202ee") == "abcde"
    assert clean_text("x" * 300) == "x" * 200
    assert clean_text("abc", 2) == "ab"
    assert clean_text("\u00a0nbsp\u00a0") == "nbsp"


def test_answers_do_not_copy_what_they_hold() -> None:
    document = copy.deepcopy(captured.SEND_ECHO_RESPONSE)
    outcome = parse_response(JSONRPC, SEND, status=200, document=document)
    assert isinstance(outcome, TaskAnswer)
    assert outcome.json is document["result"]["task"]
    assert "json=" not in repr(outcome)  # the raw JSON stays out of reprs and logs
