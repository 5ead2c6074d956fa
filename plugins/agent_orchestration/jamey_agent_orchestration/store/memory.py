"""The in-memory registry: the default of an embedded runtime, forgotten when it closes."""

from __future__ import annotations

from collections.abc import Collection
from typing import final

from jamey_agent_orchestration.model import Agent

__all__ = ["MemoryAgentStore"]


@final
class MemoryAgentStore:
    """An :class:`~jamey_agent_orchestration.store.base.AgentStore` in a dict.

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
