"""ExecutionContext: what a call tells its connector, read-only (contract section 2)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pytest

from jamey_host import AuditEvent, ExecutionContext, Runtime, RuntimeConfig
from jamey_host.call_audit import CallAudit

from .plugins import ConnectorPlugin


async def test_context_fields() -> None:
    plugin = ConnectorPlugin()
    config = RuntimeConfig(connector_settings={"thing": {"timeout": "10"}, "other": {"x": "y"}})
    async with Runtime(config, plugins=[plugin], load_entrypoints=False) as runtime:
        await runtime.execute_connector(
            "thing", {"action": "go", "a": "b"}, user_id="alice", session_id="s-1"
        )
        await runtime.execute_connector("thing", {})
    (_, _, context), (_, _, bare) = plugin.calls
    assert context.connector == "thing"
    assert context.action == "go"
    assert context.user_id == "alice"
    assert context.session_id == "s-1"
    assert dict(context.settings) == {"timeout": "10"}
    assert isinstance(context.settings, Mapping)
    with pytest.raises(TypeError):
        context.settings["timeout"] = "99"  # type: ignore[index]
    assert bare.action is None
    assert bare.user_id is None
    assert bare.session_id is None
    # Reassigning a field is a type error (tests/host/context_is_final.py, checked by mypy);
    # a new attribute is refused at run time too.
    with pytest.raises(AttributeError):
        context.auditing = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        context.extra = 1  # type: ignore[attr-defined]
    assert repr(context) == (
        "ExecutionContext(connector='thing', action='go', user_id='alice', session_id='s-1', "
        f"settings={context.settings!r})"
    )


def test_context_fields_are_given_by_name() -> None:
    with pytest.raises(TypeError):
        ExecutionContext("thing", "go", "alice", "s-1", {})  # type: ignore[misc]


def test_a_context_built_by_hand_audits_through_its_call_audit() -> None:
    events: list[AuditEvent] = []
    context = ExecutionContext(
        connector="thing",
        action="go",
        user_id="alice",
        session_id="s-1",
        settings=MappingProxyType({}),
        call_audit=CallAudit(events.append),
    )
    assert context.auditing
    context.audit("thing.step", outcome="info", n=1)
    (event,) = events
    assert (event.connector, event.action, event.user_id, event.session_id) == (
        "thing",
        "go",
        "alice",
        "s-1",
    )
    assert dict(event.details) == {"n": 1}
    silent = ExecutionContext(
        connector="thing", action=None, user_id=None, session_id=None, settings={}
    )
    assert not silent.auditing
    silent.audit("thing.step", outcome="info")
    silent.annotate(n=1)
    assert len(events) == 1
