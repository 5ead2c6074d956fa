"""What the runtime accepts of a plugin's hook implementations: pluggy wrappers are refused."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from jamey_host import AuditEvent, ConnectorResult, PluginError, Runtime, hookimpl
from jamey_host.testing import AuditEventList, RuntimeFactory

from .plugins import ConnectorPlugin, spec


class NewStyleWrapper:
    """``wrapper=True``: the runtime calls execute_connector itself, so this is never entered."""

    def __init__(self) -> None:
        self.entered = 0

    @hookimpl
    def register_connectors(self) -> list[Any]:
        return [spec("wrapped")]

    @hookimpl
    def execute_connector(self) -> ConnectorResult:
        return ConnectorResult.ok()

    @hookimpl(wrapper=True)
    def audit_event(self, event: AuditEvent) -> Generator[None, None, None]:
        self.entered += 1
        return (yield)


class OldStyleWrapper:
    """``hookwrapper=True``, the older spelling."""

    @hookimpl(hookwrapper=True)
    def execute_connector(self) -> Generator[None, Any, None]:
        yield


WRAPPERS = [
    pytest.param(NewStyleWrapper, "audit_event", id="wrapper=True"),
    pytest.param(OldStyleWrapper, "execute_connector", id="hookwrapper=True"),
]


@pytest.mark.parametrize(("plugin_type", "hook"), WRAPPERS)
async def test_a_plugin_with_a_wrapper_hook_is_recorded_failed_saying_why(
    plugin_type: type,
    hook: str,
    jamey_runtime: RuntimeFactory,
    jamey_audit_events: AuditEventList,
) -> None:
    runtime = await jamey_runtime(plugin_type(), ConnectorPlugin())
    infos = {info.name: info for info in runtime.plugins()}
    refused = infos[plugin_type.__qualname__]
    assert refused.status == "failed"
    assert refused.connectors == ()
    assert refused.error is not None
    assert "hook wrappers are not supported" in refused.error
    assert hook in refused.error
    assert infos["ConnectorPlugin"].status == "active"
    assert [spec.id for spec in runtime.connectors()] == ["thing"]
    assert (await runtime.execute_connector("wrapped", {})).errors == [
        "Connector not found: wrapped"
    ]
    [failed] = jamey_audit_events.named("plugin.load_failed")
    assert failed.details["plugin"] == plugin_type.__qualname__


@pytest.mark.parametrize(("plugin_type", "hook"), WRAPPERS)
async def test_register_plugin_with_a_wrapper_hook_raises(plugin_type: type, hook: str) -> None:
    async with Runtime(load_entrypoints=False) as runtime:
        with pytest.raises(PluginError, match="hook wrappers are not supported") as raised:
            runtime.register_plugin(plugin_type(), name="wrapping")
        assert hook in str(raised.value)
        assert runtime.plugins() == []
        # refused whole: nothing of it stays registered, so the name is free again
        assert runtime.register_plugin(ConnectorPlugin(), name="wrapping") == "wrapping"


async def test_a_refused_wrapper_never_receives_an_event(
    jamey_runtime: RuntimeFactory,
) -> None:
    wrapper = NewStyleWrapper()
    runtime = await jamey_runtime(wrapper, ConnectorPlugin())
    assert (await runtime.execute_connector("thing", {})).success
    runtime.audit("host.note", outcome="info")
    assert wrapper.entered == 0
