"""Tests of the jamey_host runtime, its command line and its configuration."""
