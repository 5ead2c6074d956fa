"""Choosing and opening the registry store: what a runtime with a file registry meets first."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from pathlib import Path

import pytest

from jamey_agent_orchestration.commands.rotate_key import rotate_key
from jamey_agent_orchestration.model import Agent, ApiKey
from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.store import MemoryAgentStore, RegistryError, open_store
from jamey_host.testing import RuntimeFactory


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_registry_path_and_no_state_dir_keeps_agents_in_memory() -> None:
    assert isinstance(open_store(AgentSettings(), None)[0], MemoryAgentStore)


def test_a_foreign_file_is_named_as_such_even_without_a_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAMEY_SECRET_KEY", raising=False)
    registry = tmp_path / "agents.db"
    registry.write_bytes(b"these are someone else's notes, not a database\n" * 4)
    before = _digest(registry)
    with pytest.raises(RegistryError, match="is not a jamey agent registry"):
        open_store(AgentSettings(registry=registry), None)
    assert _digest(registry) == before
    assert not (tmp_path / "secret.key").exists()


async def test_rotation_finds_the_key_beside_a_registry_given_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAMEY_SECRET_KEY", raising=False)
    registry = tmp_path / "deploy" / "agents.db"
    registry.parent.mkdir()
    store, created = open_store(AgentSettings(registry=registry), None)
    await store.open()
    await store.insert(Agent(id="a1", name="A", url="https://a.example", api_key=ApiKey("k-1")))
    await store.close()
    assert created == registry.parent / "secret.key"
    old_key = (registry.parent / "secret.key").read_bytes()

    out, err = io.StringIO(), io.StringIO()
    env = {"JAMEY_HOME": str(tmp_path / "elsewhere")}
    assert rotate_key(registry, None, environ=env, out=out, err=err) == 0, err.getvalue()
    assert (registry.parent / "secret.key").read_bytes() != old_key

    reopened, created_again = open_store(AgentSettings(registry=registry), None)
    assert created_again is None
    await reopened.open()
    try:
        agent = await reopened.get("a1")
        assert agent is not None
        assert agent.api_key.reveal() == "k-1"
    finally:
        await reopened.close()


async def test_a_startup_that_fails_after_opening_the_registry_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jamey_runtime: RuntimeFactory
) -> None:
    monkeypatch.setenv("JAMEY_SECRET_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
    settings = {"registry": str(tmp_path / "agents.db"), "ca_bundle": str(tmp_path / "nope.pem")}
    runtime = await jamey_runtime(
        AgentOrchestrationPlugin, settings={"agent_orchestration": settings}
    )
    [info] = [info for info in runtime.plugins() if info.name == "AgentOrchestrationPlugin"]
    assert info.status == "failed"
    assert "ca_bundle" in (info.error or "")
    registry_threads = [t for t in threading.enumerate() if t.name.startswith("jamey-registry")]
    assert registry_threads == []
