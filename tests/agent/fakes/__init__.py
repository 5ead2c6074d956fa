"""Tests of ``jamey_fake_agents``: fake agents for host applications' tests."""
