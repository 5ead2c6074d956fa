"""Loading the installed example and broken plugin distributions through entry points."""

from __future__ import annotations

import json
import logging

import pytest

from jamey_host import (
    AUDIT_LOGGER_NAME,
    CapabilityLevel,
    PluginError,
    PluginInfo,
    Runtime,
    RuntimeConfig,
)
from jamey_host.testing import AuditEventList, RuntimeFactory

from .plugins import TEST_PLUGINS

FAILED = {"broken_import", "broken_invalid_spec", "broken_unknown_hook", "shadow_echo"}


def _infos(runtime: Runtime) -> dict[str, PluginInfo]:
    return {info.name: info for info in runtime.plugins() if info.name in TEST_PLUGINS}


async def test_statuses_and_reasons() -> None:
    async with Runtime(RuntimeConfig(load_plugins=TEST_PLUGINS)) as runtime:
        infos = _infos(runtime)
        connector_ids = {spec.id for spec in runtime.connectors()}
    assert set(infos) == TEST_PLUGINS
    assert {name for name, info in infos.items() if info.status == "failed"} == FAILED
    assert infos["example_echo"].status == "active"
    assert infos["example_echo"].connectors == ("echo",)
    assert infos["example_echo"].error is None
    assert infos["example_async"].status == "active"
    assert infos["example_async"].connectors == ("counter", "admin_tool")
    assert "jamey_dependency_that_is_not_installed" in (infos["broken_import"].error or "")
    assert "register_connector" in (infos["broken_unknown_hook"].error or "")
    assert "Bad-Id" in (infos["broken_invalid_spec"].error or "")
    shadow = infos["shadow_echo"].error or ""
    assert "'echo'" in shadow
    assert "example_echo" in shadow
    for name in FAILED:
        assert infos[name].connectors == ()
    assert {"echo", "counter", "admin_tool"} <= connector_ids


async def test_versions_come_from_the_distributions() -> None:
    async with Runtime(RuntimeConfig(load_plugins=TEST_PLUGINS)) as runtime:
        infos = _infos(runtime)
    assert infos["example_echo"].version == "1.2.3"
    assert infos["example_async"].version == "1.2.3"
    for name in FAILED:
        assert infos[name].version == "0.0.1"


async def test_echo_keeps_its_id_and_shadow_is_never_called() -> None:
    async with Runtime(RuntimeConfig(load_plugins=TEST_PLUGINS)) as runtime:
        result = await runtime.execute_connector("echo", {"action": "echo", "x": "1"})
    assert result.success
    assert result.output != "shadow"
    assert json.loads(result.output) == {"action": "echo", "x": "1"}


async def test_each_load_failure_reaches_a_plugin_sink(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    await jamey_runtime(load_entrypoints=True, config=RuntimeConfig(load_plugins=TEST_PLUGINS))
    failed = jamey_audit_events.named("plugin.load_failed")
    assert sorted(e.details["plugin"] for e in failed) == sorted(FAILED)
    assert all(e.outcome == "failure" and e.error for e in failed)


async def test_each_load_failure_is_in_the_audit_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER_NAME):
        async with Runtime(RuntimeConfig(load_plugins=TEST_PLUGINS)):
            pass
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    failed = [line for line in lines if line["event"] == "plugin.load_failed"]
    assert sorted(line["details"]["plugin"] for line in failed) == sorted(FAILED)
    by_plugin = {line["details"]["plugin"]: line for line in failed}
    assert "jamey_dependency_that_is_not_installed" in by_plugin["broken_import"]["error"]
    assert [line["event"] for line in lines].count("example_async.started") == 1


async def test_allowlist_blocks_the_rest() -> None:
    async with Runtime(RuntimeConfig(load_plugins={"example_echo"})) as runtime:
        infos = _infos(runtime)
        assert [spec.id for spec in runtime.connectors()] == ["echo"]
    assert infos["example_echo"].status == "active"
    for name in TEST_PLUGINS - {"example_echo"}:
        assert infos[name].status == "blocked"
        assert infos[name].error
        assert infos[name].connectors == ()


async def test_empty_allowlist_loads_nothing() -> None:
    async with Runtime(RuntimeConfig(load_plugins=frozenset())) as runtime:
        assert runtime.connectors() == []
        assert all(info.status == "blocked" for info in runtime.plugins())
        assert set(_infos(runtime)) == TEST_PLUGINS


async def test_blocklist_blocks() -> None:
    config = RuntimeConfig(
        load_plugins=TEST_PLUGINS, disabled_plugins={"shadow_echo", "broken_import"}
    )
    async with Runtime(config) as runtime:
        infos = _infos(runtime)
    assert infos["shadow_echo"].status == "blocked"
    assert infos["broken_import"].status == "blocked"
    assert "JAMEY_DISABLE_PLUGINS" in (infos["shadow_echo"].error or "")
    assert infos["example_echo"].status == "active"


@pytest.mark.parametrize("broken", sorted(FAILED))
async def test_strict_plugins_raises_naming_the_plugin(broken: str) -> None:
    config = RuntimeConfig(load_plugins={"example_echo", broken}, strict_plugins=True)
    with pytest.raises(PluginError, match=broken):
        async with Runtime(config):
            pass


async def test_load_entrypoints_false_loads_none() -> None:
    async with Runtime(RuntimeConfig(load_plugins=TEST_PLUGINS), load_entrypoints=False) as rt:
        assert rt.plugins() == []
        assert rt.connectors() == []


async def test_class_entry_point_instantiated_once_per_runtime() -> None:
    config = RuntimeConfig(load_plugins={"example_async"})
    async with Runtime(config) as first, Runtime(config) as second:
        outputs_first = [
            (await first.execute_connector("counter", {"action": "increment"})).output
            for _ in range(3)
        ]
        outputs_second = [
            (await second.execute_connector("counter", {"action": "increment"})).output
            for _ in range(2)
        ]
        again_first = await first.execute_connector("counter", {"action": "increment"})
    assert outputs_first == ["1", "2", "3"]
    assert outputs_second == ["1", "2"]
    assert again_first.output == "4"
    assert again_first.metadata == {"count": "4"}


async def test_examples_end_to_end(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    config = RuntimeConfig(
        load_plugins={"example_echo", "example_async"},
        connector_settings={"echo": {"a": "1", "b": "2"}},
    )
    runtime = await jamey_runtime(load_entrypoints=True, config=config)
    echo = await runtime.execute_connector("echo", {"action": "echo", "x": "1"}, user_id="u")
    unknown = await runtime.execute_connector("echo", {"action": "shout"})
    counter = await runtime.execute_connector("counter", {"action": "increment"})
    admin = await runtime.execute_connector("admin_tool", {"action": "reboot"}, user_id="root")
    assert echo.success
    assert echo.json() == {"action": "echo", "x": "1"}
    assert echo.metadata == {"settings": "2"}
    assert unknown.errors == ["Unknown action: shout"]
    assert counter.output == "1"
    assert admin.success is False
    assert admin.errors[0].startswith("Capability denied:")
    (called,) = jamey_audit_events.named("echo.called")
    assert called.connector == "echo"
    assert called.user_id == "u"
    assert called.details["size"] == 2
    assert len(jamey_audit_events.named("example_async.started")) == 1


async def test_admin_tool_approval_with_capability_granted() -> None:
    config = RuntimeConfig(
        load_plugins={"example_async"},
        granted_capabilities=RuntimeConfig().granted_capabilities | {CapabilityLevel.SYSTEM_ADMIN},
    )
    async with Runtime(config) as runtime:
        root = await runtime.execute_connector("admin_tool", {"action": "reboot"}, user_id="root")
        bob = await runtime.execute_connector("admin_tool", {"action": "reboot"}, user_id="bob")
        nobody = await runtime.execute_connector("admin_tool", {"action": "reboot"})
        count = await runtime.execute_connector("counter", {})
    assert root.success
    assert root.output == "rebooted"
    assert bob.success is False
    assert bob.errors[0].startswith("Approval required:")
    assert nobody.errors[0].startswith("Approval required:")
    assert count.output == "2"  # only root's call reached the plugin before this one
