"""Where the agents of one runtime live: the store interface and the in-memory store.

Every operation is a coroutine so that a networked or on-disk store can implement the same
interface. The guarantees each operation must give (any store):

- ``insert`` is atomic insert-if-absent: of two racing inserts of one id, exactly one wins.
- ``replace`` overwrites an agent's record in place, keeping its registration order.
- ``delete``, ``get`` and ``list`` see every completed write (read-your-writes).
- ``next_for_capability`` is round-robin in registration order over the agents offering the
  capability and not in ``exclude``; concurrent callers each get the next agent (no two get the
  same turn).

A store that cannot do what is asked (a file that is not a registry, a wrong master key) raises
``RegistryError`` with a message safe to show.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Protocol

from jamey_agent_orchestration.agents import Agent
from jamey_agent_orchestration.settings import AgentSettings


class AgentStore(Protocol):
    """The storage interface of the agent registry."""

    async def open(self) -> None:
        """Acquire resources (files, connections); called at runtime startup."""

    async def close(self) -> None:
        """Release them; called at runtime shutdown."""

    async def insert(self, agent: Agent) -> bool:
        """Add ``agent`` unless its id exists; return whether it was added."""

    async def replace(self, agent: Agent) -> bool:
        """Add or overwrite ``agent``; return whether an agent was overwritten."""

    async def delete(self, agent_id: str) -> bool:
        """Remove an agent; return whether it existed."""

    async def get(self, agent_id: str) -> Agent | None:
        """The agent with this id, if any."""

    async def list(self) -> list[Agent]:
        """Every agent, in registration order."""

    async def next_for_capability(
        self, capability: str, exclude: Collection[str] = ()
    ) -> Agent | None:
        """The next agent offering ``capability`` (skipping ``exclude``), round-robin."""


class MemoryAgentStore:
    """Agents in a dict: the default of an embedded runtime, forgotten when it closes.

    Each method runs without awaiting, so on one event loop it is atomic without a lock, and
    nothing ever waits for a lock held across network I/O.
    """

    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}
        self._turns: dict[str, int] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def insert(self, agent: Agent) -> bool:
        if agent.id in self._agents:
            return False
        self._agents[agent.id] = agent
        return True

    async def replace(self, agent: Agent) -> bool:
        existed = agent.id in self._agents
        self._agents[agent.id] = agent  # an existing key keeps its place in a dict
        return existed

    async def delete(self, agent_id: str) -> bool:
        return self._agents.pop(agent_id, None) is not None

    async def get(self, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)

    async def list(self) -> list[Agent]:
        return list(self._agents.values())

    async def next_for_capability(
        self, capability: str, exclude: Collection[str] = ()
    ) -> Agent | None:
        offering = [
            agent
            for agent in self._agents.values()
            if agent.offers(capability) and agent.id not in exclude
        ]
        if not offering:
            return None
        turn = self._turns.get(capability, 0)
        self._turns[capability] = turn + 1
        return offering[turn % len(offering)]


AuditFn = Callable[..., None]


def key_directory(registry: Path, state_dir: Path | None) -> Path:
    """Where the master key file of ``registry`` lives: the state directory, else beside it."""
    return registry.parent if state_dir is None else state_dir


def open_store(settings: AgentSettings, state_dir: Path | None) -> tuple[AgentStore, Path | None]:
    """The store this runtime uses, and the master key file if this call created it.

    SQLite when a registry path is known, else memory. The path is the ``registry`` setting,
    else ``agents.db`` in the runtime's state directory (``jamey run`` has one; an embedded
    runtime does not, and keeps agents in memory). It reads and may write files: call it in a
    thread. The caller announces a created key file (once) in the audit trail.
    """
    from jamey_agent_orchestration.keys import load_master_key
    from jamey_agent_orchestration.sqlite_store import (
        SqliteAgentStore,
        check_registry_header,
        default_registry_path,
    )

    path = default_registry_path(settings.registry, state_dir)
    if path is None:
        return MemoryAgentStore(), None
    fresh = not path.exists() or path.stat().st_size == 0
    if not fresh:
        check_registry_header(path)  # a foreign file is named as such, not as a key problem
    cipher, created = load_master_key(key_directory(path, state_dir), create=fresh)
    return SqliteAgentStore(path, cipher), created
