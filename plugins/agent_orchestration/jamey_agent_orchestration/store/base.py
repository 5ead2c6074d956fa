"""Where the agents of one runtime live: the store interface, its error, and which store to open.

Every operation is a coroutine so that an on-disk or networked store can implement the same
interface. The guarantees each operation must give, whatever the store:

- ``insert`` is atomic insert-if-absent: of two racing inserts of one id, exactly one wins.
- ``replace`` overwrites an agent's record in place, keeping its registration order.
- ``delete``, ``get`` and ``list`` see every completed write (read-your-writes).
- ``next_for_capability`` is round-robin in registration order over the agents offering the
  capability and not in ``exclude``; concurrent callers each get the next agent (no two get the
  same turn).

A store that cannot do what is asked (a file that is not a registry, a wrong master key) raises
:class:`RegistryError` with a message safe to show.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Final, Protocol

from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.settings import CONNECTOR_ID, AgentSettings
from jamey_host import setting_variable

__all__ = [
    "REGISTRY_FILE_NAME",
    "REGISTRY_SETTING_VAR",
    "AgentStore",
    "RegistryError",
    "open_store",
    "registry_path",
]

#: The registry file in a state directory (``jamey run`` has one, in ``JAMEY_HOME``).
REGISTRY_FILE_NAME: Final = "agents.db"
#: The environment variable of the ``registry`` setting, for messages that say what to change.
REGISTRY_SETTING_VAR: Final = setting_variable(CONNECTOR_ID, "registry")


class RegistryError(Exception):
    """The agent registry or its master key cannot be used. ``str`` is a safe, complete message."""


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


def registry_path(registry_setting: Path | None, state_dir: Path | None) -> Path | None:
    """Where the registry file is: the ``registry`` setting, else ``agents.db`` in ``state_dir``.

    ``None`` (no setting, no state directory: an embedded runtime) means the in-memory store.
    """
    if registry_setting is not None:
        return registry_setting
    if state_dir is not None:
        return state_dir / REGISTRY_FILE_NAME
    return None


def open_store(settings: AgentSettings, state_dir: Path | None) -> tuple[AgentStore, Path | None]:
    """The store this runtime uses, and the master key file if choosing it created one.

    A file registry (SQLite) when a registry path is known, else memory. It reads and may write
    files: call it in a thread. The caller announces a created key file (once) in the audit trail.
    """
    path = registry_path(settings.registry, state_dir)
    if path is None:
        from jamey_agent_orchestration.store.memory import MemoryAgentStore

        return MemoryAgentStore(), None
    from jamey_agent_orchestration.store.sqlite import prepare_sqlite_store

    return prepare_sqlite_store(path, state_dir)
