"""redact(): the one redaction rule (contract section 3)."""

from __future__ import annotations

import copy
import logging

import pytest

from jamey_host import AUDIT_LOGGER_NAME, REDACTED, AuditEvent, Runtime, redact
from jamey_host.redaction import has_secret_key
from jamey_host.testing import JameyTestingAuditRecorder

from .plugins import ConnectorPlugin


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "API_KEY",
        "apikey",
        "ApiKey",
        "x_api_key_2",
        "token",
        "access_token",
        "Token",
        "secret",
        "client_secret",
        "SECRET_VALUE",
        "password",
        "db_Password",
        "authorization",
        "Authorization",
        "proxy-authorization",
        "credential",
        "credentials",
        "aws_Credential_file",
    ],
)
def test_secret_keys_are_redacted_case_insensitively(key: str) -> None:
    assert redact({key: "s3cr3t", "user": "alice"}) == {key: REDACTED, "user": "alice"}
    assert REDACTED == "***"


@pytest.mark.parametrize("key", ["user", "name", "url", "action", "key", "api", "pass", "auth"])
def test_non_secret_keys_are_kept(key: str) -> None:
    assert redact({key: "value"}) == {key: "value"}


def test_nested_dicts_lists_and_tuples() -> None:
    value = {
        "headers": {"Authorization": "Bearer abc", "Accept": "json"},
        "agents": [{"id": "a1", "api_key": "k1"}, {"id": "a2", "nested": {"token": "t"}}],
        "pair": ({"secret": "s"}, "plain"),
        "deep": [[{"password": "p"}]],
    }
    assert redact(value) == {
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "agents": [{"id": "a1", "api_key": REDACTED}, {"id": "a2", "nested": {"token": REDACTED}}],
        "pair": ({"secret": REDACTED}, "plain"),
        "deep": [[{"password": REDACTED}]],
    }
    result = redact(value)
    assert isinstance(result["pair"], tuple)
    assert isinstance(result["agents"], list)


def test_secret_key_holding_a_structure_is_redacted_whole() -> None:
    assert redact({"credentials": {"user": "u", "pw": "p"}}) == {"credentials": REDACTED}


def test_original_is_not_mutated() -> None:
    value = {"api_key": "k", "inner": {"token": "t"}, "items": [{"secret": "s"}]}
    before = copy.deepcopy(value)
    redact(value)
    assert value == before


def test_scalars_pass_through() -> None:
    assert redact("token") == "token"
    assert redact(3) == 3
    assert redact(None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://bob:hunter2@agent.example/api", "https://***@agent.example/api"),
        (
            "see ftp://anonymous@files.example and https://x.example",
            "see ftp://***@files.example and https://x.example",
        ),
        ("mail bob@example.com", "mail bob@example.com"),
        ("https://agent.example/api", "https://agent.example/api"),
        # A password may hold "/", "@", a space, "?" or "#": the URL's last "@" ends the user-info.
        ("https://bot:KEY/AbC+dEf==@agent.example.com/", "https://***@agent.example.com/"),
        ("https://bot:my key@agent.example.com/x", "https://***@agent.example.com/x"),
        ("https://bot:a@b@c@agent.example.com", "https://***@agent.example.com"),
        ("https://bot:p?q#r@agent.example.com/", "https://***@agent.example.com/"),
        ("https://bot:/@/x/@agent.example.com:8443/t", "https://***@agent.example.com:8443/t"),
        (
            "Got: 'https://bot:KEY/AbC@agent.example.com/' (refused)",
            "Got: 'https://***@agent.example.com/' (refused)",
        ),
        # ... so a path that holds an "@" is hidden too: a path may be lost, a key never shown.
        ("https://agent.example/@handle", "https://***@handle"),
    ],
)
def test_the_user_info_of_a_url_is_redacted_in_any_string(text: str, expected: str) -> None:
    assert redact({"url": text}) == {"url": expected}
    assert redact([text]) == [expected]


@pytest.mark.parametrize(
    "url",
    [
        "https://bot:KEY/AbC+dEf==@agent.example.com/",
        "https://bot:KEY AbC+dEf==@agent.example.com/",
        "https://bot:KEY@AbC+dEf==@agent.example.com/",
        "https://KEY/AbC+dEf==@agent.example.com/",
    ],
)
async def test_a_url_key_never_reaches_the_execute_event_or_the_json_audit_line(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14 item 2: the audit trail of a refused registration keeps no part of the key."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    events: list[AuditEvent] = []
    async with Runtime(
        plugins=[ConnectorPlugin(), JameyTestingAuditRecorder(events)], load_entrypoints=False
    ) as runtime:
        await runtime.execute_connector("thing", {"action": "go", "url": url})
    (execute,) = [event for event in events if event.event == "connector.execute"]
    assert execute.details["params"]["url"] == "https://***@agent.example.com/"
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert lines
    for text in [execute.to_json(), *lines]:
        assert "KEY" not in text
        assert "AbC" not in text


def test_has_secret_key_judges_names_and_ignores_keys_that_are_not_strings() -> None:
    assert has_secret_key({"agent_id": "a1", "x_api_key": "k"})
    assert not has_secret_key({"agent_id": "a1", "attempts": "1"})
    assert not has_secret_key({"agent_id": "a1", "attempts": "1"})  # the names are known now
    assert not has_secret_key({1: "x", ("token",): "y"})
    assert has_secret_key({1: "x", "session_token": "y"})
