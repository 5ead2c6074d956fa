"""A registered agent, as the registry keeps it."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import yarl

from jamey_agent_orchestration.api_key import ApiKey


@functools.lru_cache(maxsize=4096)  # audited on every delivery: parse each URL once
def _origin(url: str) -> str:
    return str(yarl.URL(url).origin())


@attrs.frozen
class Agent:
    """One remote agent. The key is an :class:`ApiKey`, so no repr or serializer shows it.

    ``url`` is kept as the normalised string that passed the address policy; it is small in
    memory (the registry may hold 100,000 agents) and turned into a ``yarl.URL`` per request.
    """

    id: str
    name: str
    url: str
    api_key: ApiKey = attrs.field(repr=False)
    capabilities: tuple[str, ...] = ()

    def offers(self, capability: str) -> bool:
        return capability in self.capabilities

    def origin(self) -> str:
        """``scheme://host:port`` only: what audit events may say about where a task went."""
        return _origin(self.url)

    def public(self) -> dict[str, Any]:
        """What ``list_agents`` shows: never the key."""
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "capabilities": list(self.capabilities),
        }
