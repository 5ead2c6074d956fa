"""The pytest11 plugin of jamey-host: fixtures for connector tests."""
