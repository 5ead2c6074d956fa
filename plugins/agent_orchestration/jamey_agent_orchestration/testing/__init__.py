"""Real HTTPS agents for tests: for connector and host authors, the demo and the benchmarks.

- :mod:`.fixtures`: the pytest plugin (``pytest11`` entry point ``jamey_agent_orchestration``)
  with the ``jamey_agent_ca`` and ``jamey_agent_server`` fixtures;
- :mod:`.agents`: :class:`ThrowawayCA` and the :class:`RecordingAgent` the fixtures start;
- :mod:`.server`: the reference agent (``jamey-agent``), which any test agent runs;
- :mod:`.a2a_server`: its A2A mode (``create_a2a_app``: an agent card and JSON-RPC);
- :mod:`.fakes` and :mod:`.fake_agent`: the ``jamey_fake_agents`` fixture's :class:`FakeAgents`
  and :class:`FakeAgent` (scripted agents answered through aioresponses, no socket).

pytest imports :mod:`.fixtures` in every run of an environment where this package is installed,
so nothing here is imported before it is used: the names below are loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jamey_agent_orchestration.lazy_names import lazy_names

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing.a2a_server import create_a2a_app
    from jamey_agent_orchestration.testing.agents import (
        RecordedRequest,
        RecordingAgent,
        ThrowawayCA,
        start_test_agent,
    )
    from jamey_agent_orchestration.testing.fake_agent import FakeAgent
    from jamey_agent_orchestration.testing.fakes import FakeAgents
    from jamey_agent_orchestration.testing.fixtures import AgentServerFactory
    from jamey_agent_orchestration.testing.server import (
        EXAMPLE_HANDLERS,
        AgentServer,
        TaskError,
        TaskRequest,
        create_app,
    )

__all__ = [
    "EXAMPLE_HANDLERS",
    "AgentServer",
    "AgentServerFactory",
    "FakeAgent",
    "FakeAgents",
    "RecordedRequest",
    "RecordingAgent",
    "TaskError",
    "TaskRequest",
    "ThrowawayCA",
    "create_a2a_app",
    "create_app",
    "start_test_agent",
]

__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "EXAMPLE_HANDLERS": "server",
        "AgentServer": "server",
        "AgentServerFactory": "fixtures",
        "FakeAgent": "fake_agent",
        "FakeAgents": "fakes",
        "RecordedRequest": "agents",
        "RecordingAgent": "agents",
        "TaskError": "server",
        "TaskRequest": "server",
        "ThrowawayCA": "agents",
        "create_a2a_app": "a2a_server",
        "create_app": "server",
        "start_test_agent": "agents",
    },
)
