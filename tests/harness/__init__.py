"""Tests of what jamey-host ships to connector authors: the fixtures and the ConnectorContract."""
