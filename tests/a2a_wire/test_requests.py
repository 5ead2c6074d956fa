"""What the connector sends: JSON-RPC bodies and HTTP+JSON paths (contract section 7, A2A-WIRE.md
sections 1, 5 and 8)."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
import yarl

from jamey_agent_orchestration.net.a2a_wire import (
    HTTP_JSON,
    JSONRPC,
    CancelTaskCall,
    GetTaskCall,
    SendMessageCall,
    WireRequest,
    build_request,
    cancel_task_params,
    encode_json,
    get_task_params,
    jsonrpc_request,
    rest_path,
    send_message_params,
    user_message,
)

SEND = SendMessageCall(text="sum", data={"a": "1", "b": "2"}, message_id="msg-1")


def test_send_message_body_as_the_contract_gives_it() -> None:
    assert jsonrpc_request(SEND, request_id=7) == {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "SendMessage",
        "params": {
            "message": {
                "messageId": "msg-1",
                "role": "ROLE_USER",
                "parts": [
                    {"text": "sum"},
                    {"data": {"a": "1", "b": "2"}, "mediaType": "application/json"},
                ],
            }
        },
    }


def test_the_data_part_only_when_there_are_params() -> None:
    params = send_message_params(SendMessageCall(text="ping", message_id="m"))
    assert params["message"]["parts"] == [{"text": "ping"}]


def test_wait_false_returns_immediately_and_ids_continue_a_task() -> None:
    call = SendMessageCall(text="more", message_id="m", context_id="ctx", task_id="t", wait=False)
    params = send_message_params(call)
    assert params["configuration"] == {"returnImmediately": True}
    assert params["message"]["contextId"] == "ctx"
    assert params["message"]["taskId"] == "t"
    assert "configuration" not in send_message_params(SEND)


def test_get_and_cancel_bodies() -> None:
    assert jsonrpc_request(GetTaskCall(task_id="t"), request_id="r") == {
        "jsonrpc": "2.0",
        "id": "r",
        "method": "GetTask",
        "params": {"id": "t"},
    }
    assert get_task_params(GetTaskCall(task_id="t", history_length=0)) == {
        "id": "t",
        "historyLength": 0,
    }
    assert jsonrpc_request(CancelTaskCall(task_id="t"), request_id=1)["method"] == "CancelTask"
    assert cancel_task_params(CancelTaskCall(task_id="t")) == {"id": "t"}


def test_rest_paths() -> None:
    assert rest_path(SEND) == "/message:send"
    assert rest_path(GetTaskCall(task_id="task-2")) == "/tasks/task-2"
    assert rest_path(GetTaskCall(task_id="task-2", history_length=1)) == (
        "/tasks/task-2?historyLength=1"
    )
    assert rest_path(CancelTaskCall(task_id="task-2")) == "/tasks/task-2:cancel"


def test_rest_paths_percent_encode_the_id() -> None:
    assert rest_path(GetTaskCall(task_id="../admin")) == "/tasks/..%2Fadmin"
    assert rest_path(CancelTaskCall(task_id="a:cancel b?x#y")) == (
        "/tasks/a%3Acancel%20b%3Fx%23y:cancel"
    )
    assert rest_path(GetTaskCall(task_id="tâche")) == "/tasks/t%C3%A2che"


@pytest.mark.parametrize("task_id", [".", ".."])
def test_dot_segment_ids_are_refused_on_http_json(task_id: str) -> None:
    # yarl (as aiohttp uses it) resolves "..", and decodes "%2E%2E" to resolve it too.
    assert yarl.URL("https://a.example/rest/tasks/%2E%2E").path == "/rest/"
    with pytest.raises(ValueError, match="cannot be sent in a URL path"):
        rest_path(GetTaskCall(task_id=task_id))
    with pytest.raises(ValueError, match="cannot be sent in a URL path"):
        build_request(HTTP_JSON, "https://a.example/rest", CancelTaskCall(task_id=task_id))
    assert jsonrpc_request(GetTaskCall(task_id=task_id), request_id=1)["params"] == {"id": task_id}
    assert rest_path(GetTaskCall(task_id="...")) == "/tasks/..."  # not a dot segment


@pytest.mark.parametrize(
    "interface_url", ["https://a.example/a2a/rest", "https://a.example/a2a/rest/"]
)
def test_build_request_on_http_json(interface_url: str) -> None:
    send = build_request(HTTP_JSON, interface_url, SEND)
    assert send == WireRequest(
        method="POST", url="https://a.example/a2a/rest/message:send", body=send_message_params(SEND)
    )
    get = build_request(HTTP_JSON, interface_url, GetTaskCall(task_id="t", history_length=2))
    assert get == WireRequest(
        method="GET", url="https://a.example/a2a/rest/tasks/t?historyLength=2", body=None
    )
    cancel = build_request(HTTP_JSON, interface_url, CancelTaskCall(task_id="t"))
    assert cancel == WireRequest(
        method="POST", url="https://a.example/a2a/rest/tasks/t:cancel", body={"id": "t"}
    )


def test_build_request_on_jsonrpc_posts_to_the_interface_url() -> None:
    request = build_request(JSONRPC, "https://a.example/a2a/jsonrpc", SEND, request_id=3)
    assert request.method == "POST"
    assert request.url == "https://a.example/a2a/jsonrpc"
    assert request.body == jsonrpc_request(SEND, request_id=3)


def test_build_request_refuses_other_bindings() -> None:
    with pytest.raises(ValueError, match="not an A2A binding the connector speaks: 'GRPC'"):
        build_request("GRPC", "https://a.example", SEND)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("task_id", ""), ("task_id", "t" * 257), ("task_id", "a\nb"), ("context_id", "\x00")],
)
def test_ids_from_params_are_checked_with_the_param_name(field: str, value: str) -> None:
    call = SendMessageCall(text="x", message_id="m", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"^Invalid {field}: use 1 to 256 printable characters$"):
        send_message_params(call)
    if field == "task_id":
        for other in (GetTaskCall(task_id=value), CancelTaskCall(task_id=value)):
            with pytest.raises(ValueError, match=r"^Invalid task_id"):
                rest_path(other)
            with pytest.raises(ValueError, match=r"^Invalid task_id"):
                jsonrpc_request(other, request_id=1)


@pytest.mark.parametrize("length", [-1, 10_001, True, 1.5])
def test_history_length_is_a_bounded_whole_number(length: object) -> None:
    with pytest.raises(ValueError, match=r"^Invalid history_length"):
        get_task_params(GetTaskCall(task_id="t", history_length=length))  # type: ignore[arg-type]


def test_an_empty_task_text_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^Invalid task: the message text must not be empty$"):
        user_message(text="", data={}, message_id="m")


def test_encode_json_is_compact_utf8() -> None:
    assert encode_json({"text": "é", "n": [1, 2]}) == '{"text":"é","n":[1,2]}'.encode()
    assert json.loads(encode_json(jsonrpc_request(SEND, request_id=1))) == jsonrpc_request(
        SEND, request_id=1
    )


def test_encode_json_encodes_any_mapping_as_a_dict() -> None:
    params = MappingProxyType({"city": "Oslo"})
    assert encode_json({"data": params}) == b'{"data":{"city":"Oslo"}}'
