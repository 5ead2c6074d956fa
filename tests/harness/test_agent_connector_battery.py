"""The agent connector passes the ConnectorContract battery, against a real HTTPS test agent.

Every declared action is called with its required params (section 10): register_agent with the
test agent's URL, then send_task and broadcast to it, list_agents and unregister_agent.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.testing.server import EXAMPLE_HANDLERS
from jamey_host.testing import ConnectorContract

from .samples import BATTERY_SIZE, run_inner


class TestAgentConnector(ConnectorContract):
    plugin = AgentOrchestrationPlugin
    connector_id = "agent_orchestration"

    @pytest_asyncio.fixture(autouse=True)
    async def _agent(self, jamey_agent_server: Any) -> None:
        agent = await jamey_agent_server(handlers=EXAMPLE_HANDLERS)
        self.settings = {"ca_bundle": str(agent.ca_path), "allow_networks": "127.0.0.1/32"}
        # name: required by the connector for a jamey agent, optional in the spec (A2A);
        # agent_id: optional for send_task (or capability), given so that it finds the agent.
        self.sample_params = {
            "agent_id": "contract-agent",
            "name": "Contract agent",
            "url": agent.url,
            "api_key": agent.api_key,
            "task": "echo",
            "param_text": "hello",
        }


def test_the_battery_calls_every_declared_action_and_each_can_succeed() -> None:
    spec = AgentOrchestrationPlugin().register_connectors()[0]
    battery = TestAgentConnector()
    battery.sample_params = {"name": "n", "url": "https://agent.example.com", "api_key": "k"}
    calls = battery._jamey_samples(spec)
    assert [call["action"] for call in calls] == list(spec.actions)
    assert calls[0] == {
        "action": "register_agent",
        "agent_id": "jamey-contract-agent_id",  # made up: required, and not in sample_params
        "url": "https://agent.example.com",
        "api_key": "k",
        "name": "n",
    }


BARE = """
from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_host.testing import ConnectorContract


class TestAgentConnector(ConnectorContract):
    plugin = AgentOrchestrationPlugin
    connector_id = "agent_orchestration"
"""


def test_the_battery_set_up_as_the_contract_says_passes_with_two_warnings(
    pytester: pytest.Pytester,
) -> None:
    # Only what CONTRACT.md section 6 asks of a connector author: no agent, no sample params.
    # The battery's made-up values reach no agent; the calls that need a param the spec
    # declares optional (name for a jamey agent; agent_id or capability for send_task) are
    # warnings, since only the connector can judge them.
    pytester.makepyfile(test_bare=BARE)
    result = run_inner(pytester, "strict")
    result.assert_outcomes(passed=BATTERY_SIZE, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*ConnectorContractWarning: a call of 'register_agent' with its required params *"
            "was refused with 'Missing name', a param the spec declares optional*",
            "*ConnectorContractWarning: a call of 'send_task' with its required params *"
            "was refused with 'Missing agent_id', a param the spec declares optional*",
        ]
    )
