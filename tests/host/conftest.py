"""Fixtures of the jamey-host tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_jamey_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No JAMEY_* variable of the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("JAMEY_"):
            monkeypatch.delenv(name)
