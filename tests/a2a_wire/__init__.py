"""Pure-unit tests of ``jamey_agent_orchestration.a2a_wire``, and a round trip via the peer."""
