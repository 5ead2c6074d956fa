"""Choosing and opening the registry store: what a runtime with a file registry meets first."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from jamey_agent_orchestration.agents import Agent
from jamey_agent_orchestration.api_key import ApiKey
from jamey_agent_orchestration.keys import RegistryError
from jamey_agent_orchestration.keys_cli import rotate_key
from jamey_agent_orchestration.registry import MemoryAgentStore, open_store
from jamey_agent_orchestration.settings import AgentSettings


def _no_audit(*args: Any, **kwargs: Any) -> None:
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_registry_path_and_no_state_dir_keeps_agents_in_memory() -> None:
    assert isinstance(open_store(AgentSettings(), None, _no_audit), MemoryAgentStore)


def test_a_foreign_file_is_named_as_such_even_without_a_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAMEY_SECRET_KEY", raising=False)
    registry = tmp_path / "agents.db"
    registry.write_bytes(b"these are someone else's notes, not a database\n" * 4)
    before = _digest(registry)
    with pytest.raises(RegistryError, match="is not a jamey agent registry"):
        open_store(AgentSettings(registry=registry), None, _no_audit)
    assert _digest(registry) == before
    assert not (tmp_path / "secret.key").exists()


async def test_rotation_finds_the_key_beside_a_registry_given_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAMEY_SECRET_KEY", raising=False)
    registry = tmp_path / "deploy" / "agents.db"
    registry.parent.mkdir()
    events: list[str] = []
    store = open_store(AgentSettings(registry=registry), None, lambda e, **_: events.append(e))
    await store.open()
    await store.insert(Agent(id="a1", name="A", url="https://a.example", api_key=ApiKey("k-1")))
    await store.close()
    assert events == ["agent_orchestration.key_file_created"]
    old_key = (registry.parent / "secret.key").read_bytes()

    out, err = io.StringIO(), io.StringIO()
    env = {"JAMEY_HOME": str(tmp_path / "elsewhere")}
    assert rotate_key(registry, None, environ=env, out=out, err=err) == 0, err.getvalue()
    assert (registry.parent / "secret.key").read_bytes() != old_key

    reopened = open_store(AgentSettings(registry=registry), None, _no_audit)
    await reopened.open()
    try:
        agent = await reopened.get("a1")
        assert agent is not None
        assert agent.api_key.reveal() == "k-1"
    finally:
        await reopened.close()
