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

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Final, Protocol

from jamey_agent_orchestration.database_url import DatabaseUrl
from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.settings import CONNECTOR_ID, AgentSettings
from jamey_host import setting_variable

__all__ = [
    "POSTGRES_EXTRA_HINT",
    "REGISTRY_FILE_NAME",
    "REGISTRY_SETTING_VAR",
    "AgentStore",
    "ProblemFn",
    "RegistryError",
    "open_store",
    "registry_path",
]

#: The registry file in a state directory (``jamey run`` has one, in ``JAMEY_HOME``).
REGISTRY_FILE_NAME: Final = "agents.db"
#: The environment variable of the ``registry`` setting, for messages that say what to change.
REGISTRY_SETTING_VAR: Final = setting_variable(CONNECTOR_ID, "registry")


#: What to install for a ``postgresql://`` registry.
POSTGRES_EXTRA_HINT: Final = "pip install 'jamey-agent-orchestration[postgres]'"

#: Told once per stored agent that cannot be used: ``on_problem(agent_id, message)``.
ProblemFn = Callable[[str, str], None]


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


def registry_path(
    registry_setting: Path | DatabaseUrl | None, state_dir: Path | None
) -> Path | DatabaseUrl | None:
    """Where the registry is: the ``registry`` setting, else ``agents.db`` in ``state_dir``.

    ``None`` (no setting, no state directory: an embedded runtime) means the in-memory store;
    a :class:`DatabaseUrl`, the shared PostgreSQL registry.
    """
    if registry_setting is not None:
        return registry_setting
    if state_dir is not None:
        return state_dir / REGISTRY_FILE_NAME
    return None


def open_store(
    settings: AgentSettings, state_dir: Path | None, *, on_problem: ProblemFn | None = None
) -> tuple[AgentStore, Path | None]:
    """The store this runtime uses, and the master key file if choosing it created one.

    PostgreSQL for a ``postgresql://`` URL, a file registry (SQLite) when a registry path is
    known, else memory. It reads and may write files: call it in a thread. The caller announces
    a created key file (once) in the audit trail. ``on_problem`` hears of each stored agent that
    cannot be used (a record edited without the master key), for the audit trail.
    """
    where = registry_path(settings.registry, state_dir)
    if where is None:
        from jamey_agent_orchestration.store.memory import MemoryAgentStore

        return MemoryAgentStore(), None
    if isinstance(where, DatabaseUrl):
        try:
            from jamey_agent_orchestration.store.postgres import prepare_postgres_store
        except ImportError as exc:
            if exc.name != "asyncpg":
                raise
            raise RegistryError(
                f"The registry setting is a PostgreSQL URL ({where}), whose driver is not "
                f"installed: {POSTGRES_EXTRA_HINT}"
            ) from None
        return prepare_postgres_store(
            where, state_dir, timeout=settings.timeout, on_problem=on_problem
        ), None
    from jamey_agent_orchestration.store.sqlite import prepare_sqlite_store

    return prepare_sqlite_store(where, state_dir, on_problem=on_problem)
