"""The package's public names, loaded on first use."""

from __future__ import annotations

import pytest

import jamey_agent_orchestration
from jamey_agent_orchestration.model import (
    Agent,
    AgentCardError,
    ApiKey,
    InvalidParams,
    SecurityViolation,
)
from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.store import RegistryError


def test_every_public_name_is_its_modules() -> None:
    expected = {
        "Agent": Agent,
        "AgentCardError": AgentCardError,
        "AgentOrchestrationPlugin": AgentOrchestrationPlugin,
        "AgentSettings": AgentSettings,
        "ApiKey": ApiKey,
        "InvalidParams": InvalidParams,
        "RegistryError": RegistryError,
        "SecurityViolation": SecurityViolation,
    }
    assert sorted(jamey_agent_orchestration.__all__) == sorted(expected)
    for name, value in expected.items():
        assert getattr(jamey_agent_orchestration, name) is value
    assert set(expected) <= set(dir(jamey_agent_orchestration))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        jamey_agent_orchestration.Nothing
