# ruff: noqa: E501 - the captures are kept as A2A-WIRE.md prints them
"""JSON captured from the official SDK (a2a-sdk 1.3.0), copied from ``shared/A2A-WIRE.md``.

Kept as the text the document shows (ids abbreviated there), parsed with ``json.loads`` so the
numbers are what a client gets (``42.0`` stays a float).
"""

from __future__ import annotations

import json
from typing import Any

CARD: Any = json.loads("""
{
  "name": "A2A Test Peer",
  "description": "Scripted A2A v1.0 peer (a2a-sdk 1.3.0) for client tests.",
  "supportedInterfaces": [
    {"url": "https://127.0.0.1:45335/a2a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}
  ],
  "provider": {"url": "https://127.0.0.1:45335", "organization": "a2a-peer (test fixture)"},
  "version": "1.0.0",
  "capabilities": {"streaming": true, "pushNotifications": false, "extendedAgentCard": false},
  "securitySchemes": {
    "bearerAuth": {
      "httpAuthSecurityScheme": {"description": "Authorization: Bearer <api key>", "scheme": "Bearer", "bearerFormat": "opaque"}
    }
  },
  "securityRequirements": [{"schemes": {"bearerAuth": {}}}],
  "defaultInputModes": ["text/plain", "application/json"],
  "defaultOutputModes": ["text/plain", "application/json"],
  "skills": [
    {"id": "echo", "name": "Echo", "description": "Echoes the text and data parts of the message back as an artifact.",
     "tags": ["echo", "test", "text"], "examples": ["hello"],
     "inputModes": ["text/plain", "application/json"], "outputModes": ["text/plain", "application/json"]},
    {"id": "task-lifecycle", "name": "Task lifecycle",
     "description": "Long-running, failing, or input-required tasks for polling and cancellation tests.",
     "tags": ["lifecycle", "polling", "cancel", "test"], "examples": ["wait a while"]}
  ]
}
""")

SEND_ECHO_REQUEST: Any = json.loads("""
{
  "jsonrpc": "2.0", "id": 1, "method": "SendMessage",
  "params": {
    "message": {
      "messageId": "msg-1",
      "role": "ROLE_USER",
      "parts": [
        {"text": "hello peer"},
        {"data": {"n": 42, "tags": ["a", "b"]}, "mediaType": "application/json"},
        {"url": "https://example.com/a.pdf", "mediaType": "application/pdf", "filename": "a.pdf"}
      ]
    },
    "configuration": {"acceptedOutputModes": ["text/plain", "application/json"]}
  }
}
""")

SEND_ECHO_RESPONSE: Any = json.loads(r"""
{
  "result": {
    "task": {
      "id": "task-1",
      "contextId": "ctx-1",
      "status": {
        "state": "TASK_STATE_COMPLETED",
        "message": {"messageId": "msg-2", "contextId": "ctx-1", "taskId": "task-1", "role": "ROLE_AGENT",
                    "parts": [{"text": "completed"}]},
        "timestamp": "2026-12-01T18:52:50.530465Z"
      },
      "artifacts": [
        {
          "artifactId": "art-1",
          "name": "echo",
          "parts": [
            {"text": "echo: hello peer\ndata: {\"n\": 42, \"tags\": [\"a\", \"b\"]}\nfile: https://example.com/a.pdf (application/pdf)",
             "mediaType": "text/plain"},
            {"data": {"tags": ["a", "b"], "n": 42.0}, "mediaType": "application/json"}
          ]
        }
      ],
      "history": [
        {"messageId": "msg-1", "contextId": "ctx-1", "taskId": "task-1", "role": "ROLE_USER",
         "parts": [{"text": "hello peer"},
                   {"data": {"tags": ["a", "b"], "n": 42.0}, "mediaType": "application/json"},
                   {"url": "https://example.com/a.pdf", "filename": "a.pdf", "mediaType": "application/pdf"}]},
        {"messageId": "msg-3", "contextId": "ctx-1", "taskId": "task-1", "role": "ROLE_AGENT",
         "parts": [{"text": "working"}]}
      ]
    }
  },
  "id": 1,
  "jsonrpc": "2.0"
}
""")

TASK_NOT_FOUND: Any = json.loads("""
{"error": {"code": -32001, "message": "Task not found",
           "data": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TASK_NOT_FOUND",
                     "domain": "a2a-protocol.org", "metadata": {}}]},
 "id": 7, "jsonrpc": "2.0"}
""")

VERSION_NOT_SUPPORTED: Any = json.loads("""
{"error": {"code": -32009, "message": "A2A version '0.3' is not supported by this handler. Expected version '1.0'.",
           "data": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "VERSION_NOT_SUPPORTED",
                     "domain": "a2a-protocol.org", "metadata": {}}]},
 "id": 10, "jsonrpc": "2.0"}
""")

VALIDATION_FAILED: Any = json.loads("""
{"error": {"code": -32602, "message": "Validation failed",
  "data": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_PARAMS", "domain": "a2a-protocol.org",
            "metadata": {"errors": [{"field": "message.role", "message": "Field is required."}]}},
           {"@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "message.role", "description": "Field is required."}]}]},
 "id": 16, "jsonrpc": "2.0"}
""")

METHOD_NOT_FOUND: Any = json.loads(
    '{"error":{"code":-32601,"message":"Method not found"},"id":99,"jsonrpc":"2.0"}'
)
PARSE_ERROR: Any = json.loads(
    '{"error":{"code":-32700,"message":"Expecting value: line 1 column 12 (char 11)"},'
    '"id":null,"jsonrpc":"2.0"}'
)

REST_SEND_RETURN_IMMEDIATELY: Any = json.loads("""
{"task": {"id": "task-2", "contextId": "ctx-2", "status": {"state": "TASK_STATE_SUBMITTED"}, "history": []}}
""")

REST_TASK_NOT_FOUND: Any = json.loads("""
{"error": {"code": 404, "status": "NOT_FOUND", "message": "Task not found",
           "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TASK_NOT_FOUND",
                        "domain": "a2a-protocol.org", "metadata": {}}]}}
""")

REST_EXECUTOR_CRASH: Any = json.loads(
    '{"error":{"code":500,"status":"INTERNAL","message":"unknown exception"}}'
)

PEER_UNAUTHENTICATED: Any = json.loads(
    '{"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "missing bearer token"}}'
)

FAILED_TASK: Any = {
    "id": "task-9",
    "contextId": "ctx-9",
    "status": {
        "state": "TASK_STATE_FAILED",
        "message": {
            "messageId": "m",
            "role": "ROLE_AGENT",
            "parts": [{"text": "simulated failure"}],
        },
    },
}

RAW_PART: Any = json.loads('{"raw": "aGVsbG8=", "filename": "h.txt", "mediaType": "text/plain"}')
