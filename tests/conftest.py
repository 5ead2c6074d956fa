"""Plugins of the whole suite (``tests/`` is on ``sys.path`` once this file is imported)."""

pytest_plugins = ["otel_setup", "throwaway_postgres.fixtures"]
