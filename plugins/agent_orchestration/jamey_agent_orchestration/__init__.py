"""The ``agent_orchestration`` connector for jamey-host: tasks for remote agents, over HTTPS.

The plugin is :class:`AgentOrchestrationPlugin` (entry point ``agent_orchestration`` of the group
``jamey_host``). The names below are imported when first used, so that importing a part of the
package (the pytest plugin, a command) does not import all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jamey_agent_orchestration.lazy_names import lazy_names

if TYPE_CHECKING:
    from jamey_agent_orchestration.model import (
        Agent,
        AgentCardError,
        ApiKey,
        InvalidParams,
        SecurityViolation,
    )
    from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
    from jamey_agent_orchestration.settings import AgentSettings
    from jamey_agent_orchestration.store.base import RegistryError

__all__ = [
    "Agent",
    "AgentCardError",
    "AgentOrchestrationPlugin",
    "AgentSettings",
    "ApiKey",
    "InvalidParams",
    "RegistryError",
    "SecurityViolation",
]

__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "Agent": "model",
        "AgentCardError": "model",
        "AgentOrchestrationPlugin": "plugin",
        "AgentSettings": "settings",
        "ApiKey": "model",
        "InvalidParams": "model",
        "RegistryError": "store.base",
        "SecurityViolation": "model",
    },
)
