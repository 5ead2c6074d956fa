"""ExecutionContext: what a call tells its connector, read-only (contract section 2)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from jamey_host import Runtime, RuntimeConfig

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
    for field in ("connector", "action", "user_id", "session_id", "settings", "auditing"):
        with pytest.raises(AttributeError):
            setattr(context, field, "changed")
    with pytest.raises(AttributeError):
        context.extra = 1  # type: ignore[attr-defined]
    assert repr(context) == (
        "ExecutionContext(connector='thing', action='go', user_id='alice', session_id='s-1', "
        f"settings={context.settings!r})"
    )
