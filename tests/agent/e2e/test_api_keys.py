"""API keys that cannot be sent in a header are refused, and never reach a log, a file or a crash.

Python decodes argv with ``surrogateescape``, so a stray byte on the command line becomes a lone
surrogate in the key: the file registry could not encode it (``UnicodeEncodeError``, whose
``repr`` holds the whole key). Such keys, and keys with control characters, are refused at
registration with ``Security violation: API key ...``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.store import MemoryAgentStore
from jamey_agent_orchestration.store.keys import generate_master_key
from jamey_agent_orchestration.testing import ThrowawayCA
from jamey_host.testing import AuditEventList, RuntimeFactory

from .cli import jamey_env, run_jamey

if TYPE_CHECKING:
    from ..connector import Connector

CANARY = "CANARY-KEY-7d1e"
LOGGERS = ("", "jamey_host", "jamey_host.audit", "jamey_agent_orchestration", "aiohttp", "asyncio")


def texts_of(records: list[logging.LogRecord]) -> list[str]:
    texts = []
    for record in records:
        texts += [record.getMessage(), repr(record.args)]
        if record.exc_info:
            texts += [logging.Formatter().formatException(record.exc_info)]
    return texts


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (f"{CANARY}\udcff", "is not valid text (it holds a byte that is not UTF-8)"),
        (f"{CANARY}\n", "contains a control character (a newline, a tab, ...)"),
        (f"{CANARY}\r\nX-Injected: 1", "contains a control character (a newline, a tab, ...)"),
    ],
)
async def test_a_file_registry_refuses_the_key_without_a_crash_or_a_trace(
    key: str,
    problem: str,
    tmp_path: Path,
    jamey_runtime: RuntimeFactory,
    jamey_audit_events: AuditEventList,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    monkeypatch.setenv("JAMEY_SECRET_KEY", generate_master_key())
    registry = tmp_path / "agents.db"
    runtime = await jamey_runtime(
        AgentOrchestrationPlugin, settings={"agent_orchestration": {"registry": str(registry)}}
    )
    params = {
        "action": "register_agent",
        "agent_id": "a1",
        "name": "A",
        "url": "https://agent.example.com",
        "api_key": key,
    }
    result = await runtime.execute_connector("agent_orchestration", params)

    assert result.errors == [f"Security violation: API key {problem}"]
    [refused] = jamey_audit_events.named("agent.register_refused")
    assert (refused.outcome, refused.error) == ("denied", result.errors[0])
    listed = await runtime.execute_connector("agent_orchestration", {"action": "list_agents"})
    assert listed.json() == []
    texts = texts_of(caplog.records)
    assert [text for text in texts if CANARY in text] == []
    assert [text for text in texts if "UnicodeEncodeError" in text] == []
    assert all(CANARY not in event.to_json() for event in jamey_audit_events)
    assert CANARY.encode() not in registry.read_bytes()


async def test_a_name_with_a_stray_byte_is_refused_too(
    tmp_path: Path, jamey_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAMEY_SECRET_KEY", generate_master_key())
    runtime = await jamey_runtime(
        AgentOrchestrationPlugin,
        settings={"agent_orchestration": {"registry": str(tmp_path / "agents.db")}},
    )
    params = {
        "action": "register_agent",
        "agent_id": "a1",
        "name": "Agent \udcff",
        "url": "https://agent.example.com",
        "api_key": "k-1",
    }
    result = await runtime.execute_connector("agent_orchestration", params)
    assert result.errors == [
        "Invalid name: it is not valid text (it holds a byte that is not UTF-8)"
    ]


async def test_a_key_holding_json_punctuation_is_refused_unechoed_and_nothing_is_stored(
    connector: Connector,
) -> None:
    key = 'CANARY":"KEY-0123'
    result = await connector.call(
        "register_agent", agent_id="a1", name="A", url="https://agent.example.com", api_key=key
    )
    assert result.errors == [
        'Security violation: API key holds a space or one of " \\ { } [ ] , : *'
    ]
    assert await connector.plugin.store.list() == []
    assert [event.event for event in connector.events if "CANARY" in event.to_json()] == []


async def test_jamey_run_with_a_stray_byte_in_the_key_says_so_in_one_line(
    tmp_path: Path, jamey_agent_ca: ThrowawayCA
) -> None:
    code, out, err = await run_jamey(
        jamey_env(tmp_path, jamey_agent_ca),
        "run",
        "agent_orchestration",
        "action=register_agent",
        "agent_id=a1",
        "name=A",
        "url=https://agent.example.com",
        b"api_key=" + CANARY.encode() + b"\xff",
    )
    assert code == 1
    # one line, no traceback (beside jamey's notices of a first run: the key file, the networks)
    [line] = [
        line
        for line in (out + err).strip().splitlines()
        if not line.startswith(("jamey: warning: ", "jamey: created "))
    ]
    assert line.endswith(
        "Security violation: API key is not valid text (it holds a byte that is not UTF-8)"
    )
    assert CANARY not in out + err
    assert CANARY.encode() not in (tmp_path / "agents.db").read_bytes()


async def test_an_unforeseen_error_is_logged_by_type_and_place_never_by_its_text(
    jamey_runtime: RuntimeFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bug no real part produces on demand: a store whose error carries the key in its text.
    async def broken_insert(self: MemoryAgentStore, agent: object) -> bool:
        raise UnicodeEncodeError("utf-8", CANARY, 0, 1, "surrogates not allowed")

    monkeypatch.setattr(MemoryAgentStore, "insert", broken_insert)
    caplog.set_level(logging.DEBUG)
    runtime = await jamey_runtime(AgentOrchestrationPlugin)
    params = {
        "action": "register_agent",
        "agent_id": "a1",
        "name": "A",
        "url": "https://agent.example.com",
        "api_key": CANARY,
    }
    result = await runtime.execute_connector("agent_orchestration", params)

    assert result.errors == [
        "Internal error of agent_orchestration (UnicodeEncodeError); see its log"
    ]
    [logged] = [r for r in caplog.records if r.name == "jamey_agent_orchestration.actions"]
    assert logged.levelno == logging.ERROR
    assert "Unexpected UnicodeEncodeError in action register_agent" in logged.getMessage()
    assert "broken_insert" in logged.getMessage()  # where it happened
    assert [text for text in texts_of(caplog.records) if CANARY in text] == []
