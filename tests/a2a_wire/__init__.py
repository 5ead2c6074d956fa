"""Pure-unit tests of ``jamey_agent_orchestration.net.a2a_wire``, and a round trip via the peer."""
