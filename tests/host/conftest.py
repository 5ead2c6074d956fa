"""Fixtures of the jamey-host tests."""

from __future__ import annotations

import pytest

from jamey_host.testing import AuditEventList, JameyTestingAuditRecorder


@pytest.fixture(autouse=True)
def _no_jamey_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No JAMEY_* variable of the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("JAMEY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def recorder(jamey_audit_events: AuditEventList) -> JameyTestingAuditRecorder:
    """The shipped audit recorder, for a test that builds its own ``Runtime``.

    It appends to ``jamey_audit_events``: give it in ``plugins=[recorder, ...]``.
    """
    return JameyTestingAuditRecorder(jamey_audit_events)
