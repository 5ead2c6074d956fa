"""Tests of the agent connector, by the part they exercise.

- ``unit/``: pure logic (address policy, breakers, params, settings, the model, retry rules);
- ``net/``: the HTTPS client (transport, TLS, the jamey protocol) against real servers;
- ``store/``: the registry stores, keys at rest, the rotate-key command;
- ``e2e/``: the connector through a real runtime against real HTTPS agents, and the demo;
- ``testing/``: the reference agent and the fixtures shipped to connector and host authors;
- ``fakes/``: ``jamey_fake_agents``, each scripted behaviour against the real agent's.
"""
