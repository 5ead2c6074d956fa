"""Fixtures shared by every test directory."""

pytest_plugins = ["throwaway_postgres.fixtures"]
