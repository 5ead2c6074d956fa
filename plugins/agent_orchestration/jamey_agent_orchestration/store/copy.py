"""A durable registry's copy in memory, so that a ``send_task`` reads no file and no database.

The SQLite and PostgreSQL stores keep every agent here, decrypted once per change of its row,
not once per send. Each entry carries its row's registration order (``seq``) and ``version``:
an update is applied only when it is newer than what the copy holds, so an old notification
(or a slow reload racing a newer write) never overwrites a newer row. A removal leaves the
version it was removed at, for the same reason.

A row whose stored key does not open under its record (its URL edited without the master key)
is kept as a *problem*: ``get`` of it raises the problem, ``list`` and round-robin leave it out,
and it is never sent to.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import final

import attrs

from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.store.base import ProblemFn, RegistryError

__all__ = ["RegistryCopy", "StoredAgent"]


@attrs.frozen(kw_only=True)
class StoredAgent:
    """One row as the copy keeps it: the agent, or the problem that stops it being used."""

    id: str
    seq: int
    version: int
    agent: Agent | None = None
    problem: RegistryError | None = None


@final
class RegistryCopy:
    """The agents of a durable registry, in registration order, with per-row versions.

    Every method runs without awaiting: on one event loop, no lock is needed.
    """

    def __init__(self, on_problem: ProblemFn | None = None) -> None:
        self._entries: dict[str, StoredAgent] = {}
        self._removed: dict[str, int] = {}  # id -> the version it was removed at
        self._last_seq = 0
        self._agents: list[Agent] | None = None  # list() of the current entries, built lazily
        self._turns: dict[str, int] = {}
        self._on_problem = on_problem

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, agent_id: str) -> StoredAgent | None:
        return self._entries.get(agent_id)

    def version_of(self, agent_id: str) -> int:
        """The newest version known for ``agent_id`` (a row or its removal); 0 if none."""
        entry = self._entries.get(agent_id)
        if entry is not None:
            return entry.version
        return self._removed.get(agent_id, 0)

    def entries(self) -> dict[str, StoredAgent]:
        """A snapshot of the entries (for a reload to reuse what did not change)."""
        return dict(self._entries)

    # -- changes ---------------------------------------------------------------------------

    def put(self, entry: StoredAgent) -> bool:
        """Hold ``entry`` unless the copy knows a newer version of its id; return whether held."""
        if entry.version <= self.version_of(entry.id):
            return False
        old = self._entries.get(entry.id)
        self._removed.pop(entry.id, None)
        if old is not None and old.seq == entry.seq:
            self._entries[entry.id] = entry  # in place: its position stays
        else:
            self._entries.pop(entry.id, None)
            self._entries[entry.id] = entry
            if entry.seq < self._last_seq:  # arrived out of order: restore registration order
                self._entries = dict(sorted(self._entries.items(), key=lambda kv: kv[1].seq))
        self._last_seq = max(self._last_seq, entry.seq)
        self._agents = None
        self._report(old, entry)
        return True

    def remove(self, agent_id: str, version: int) -> bool:
        """Forget ``agent_id`` as removed at ``version``, unless a newer row is known."""
        entry = self._entries.get(agent_id)
        if entry is not None and entry.version > version:
            return False
        self._removed[agent_id] = max(version, self._removed.get(agent_id, 0))
        if entry is None:
            return False
        del self._entries[agent_id]
        self._agents = None
        return True

    def replace_all(self, entries: Iterable[StoredAgent]) -> None:
        """Hold exactly ``entries`` (a full reload); round-robin turns are kept."""
        old = self._entries
        ordered = sorted(entries, key=lambda entry: entry.seq)
        self._entries = {entry.id: entry for entry in ordered}
        self._removed = {}
        self._last_seq = max((entry.seq for entry in ordered), default=0)
        self._agents = None
        for entry in ordered:
            self._report(old.get(entry.id), entry)

    def clear(self) -> None:
        self.replace_all(())

    def _report(self, old: StoredAgent | None, new: StoredAgent) -> None:
        if new.problem is None or self._on_problem is None:
            return
        if old is not None and old.version == new.version and old.problem is not None:
            return  # told already
        self._on_problem(new.id, str(new.problem))

    # -- reads -----------------------------------------------------------------------------

    def get(self, agent_id: str) -> Agent | None:
        """The agent, ``None`` if the copy does not hold it; its problem, raised, if it has one."""
        entry = self._entries.get(agent_id)
        if entry is None:
            return None
        if entry.problem is not None:
            raise entry.problem
        return entry.agent

    def list(self) -> list[Agent]:
        """Every usable agent, in registration order."""
        agents = self._agents
        if agents is None:
            agents = [entry.agent for entry in self._entries.values() if entry.agent is not None]
            self._agents = agents
        return list(agents)

    def next_for_capability(self, capability: str, exclude: Collection[str] = ()) -> Agent | None:
        """Round-robin over the usable agents offering ``capability``; turns kept per copy."""
        offering = [
            entry.agent
            for entry in self._entries.values()
            if entry.agent is not None
            and entry.agent.offers(capability)
            and entry.agent.id not in exclude
        ]
        if not offering:
            return None
        turn = self._turns.get(capability, 0)
        self._turns[capability] = turn + 1
        return offering[turn % len(offering)]
