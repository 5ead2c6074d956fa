"""The agent registry: one interface, a store per kind of registry.

- :mod:`.base`: the :class:`AgentStore` interface and its guarantees, :class:`RegistryError`,
  and :func:`open_store`, which chooses the store from the settings;
- :mod:`.memory`: agents in a dict (an embedded runtime's default);
- :mod:`.sqlite`: agents in a SQLite file shared by every process that opens it;
- :mod:`.keys`: API keys at rest (the master key and the cipher under it).
"""

from __future__ import annotations

from jamey_agent_orchestration.store.base import AgentStore, RegistryError, open_store
from jamey_agent_orchestration.store.memory import MemoryAgentStore

__all__ = ["AgentStore", "MemoryAgentStore", "RegistryError", "open_store"]
