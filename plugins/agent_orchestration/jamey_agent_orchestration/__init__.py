"""The ``agent_orchestration`` connector for jamey-host."""

from __future__ import annotations

from jamey_agent_orchestration.api_key import ApiKey
from jamey_agent_orchestration.errors import SecurityViolation
from jamey_agent_orchestration.settings import AgentSettings

__all__ = ["AgentSettings", "ApiKey", "SecurityViolation"]
