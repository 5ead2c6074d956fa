"""Runtime.execute_connector with plugin objects (contract section 3)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType

import pytest

from jamey_host import ConnectorResult, ExecutionContext, Runtime, RuntimeConfig, hookimpl
from jamey_host.testing import AuditEventList, RuntimeFactory

from .plugins import AsyncConnectorPlugin, ConnectorPlugin, spec


async def test_sync_execute_connector() -> None:
    plugin = ConnectorPlugin("thing", lambda n, p, c: ConnectorResult.ok(f"sync {p['x']}"))
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", {"x": "1"})
    assert result.success
    assert result.output == "sync 1"
    assert len(plugin.calls) == 1


async def test_async_execute_connector() -> None:
    async def answer(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        await asyncio.sleep(0)
        return ConnectorResult.ok(f"async {name}")

    plugin = AsyncConnectorPlugin("thing", answer)
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", {})
    assert result.success
    assert result.output == "async thing"


async def test_only_the_owner_is_called() -> None:
    first = ConnectorPlugin("first", lambda n, p, c: ConnectorResult.ok("first"))
    second = AsyncConnectorPlugin("second", lambda n, p, c: ConnectorResult.ok("second"))
    async with Runtime(plugins=[first, second], load_entrypoints=False) as runtime:
        # pluggy would call the last registered plugin first; the runtime must pick the owner
        result = await runtime.execute_connector("first", {})
        assert result.output == "first"
        assert len(first.calls) == 1
        assert second.calls == []
        result = await runtime.execute_connector("second", {})
        assert result.output == "second"
        assert len(first.calls) == 1
        assert len(second.calls) == 1


async def test_plugin_taking_a_subset_of_arguments() -> None:
    class Partial:
        @hookimpl
        def register_connectors(self) -> list[object]:
            return [spec("partial")]

        @hookimpl
        def execute_connector(self, context: ExecutionContext) -> ConnectorResult:
            return ConnectorResult.ok(f"{context.connector}:{context.action}")

    async with Runtime(plugins=[Partial()], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("partial", {"action": "go"})
    assert result.output == "partial:go"


async def test_unknown_connector() -> None:
    async with Runtime(plugins=[ConnectorPlugin()], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("nope", {})
    assert result.success is False
    assert result.errors == ["Connector not found: nope"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (["action", "go"], "list"),
        ("action=go", "str"),
        (None, "NoneType"),
        ({1: "x"}, "key 1"),
        ({"count": 3}, "'count'"),
        ({"flag": None}, "'flag'"),
    ],
)
async def test_bad_params_give_a_failed_result_naming_the_problem(
    params: object, fragment: str
) -> None:
    plugin = ConnectorPlugin()
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", params)  # type: ignore[arg-type]
    assert result.success is False
    assert len(result.errors) == 1
    assert "params" in result.errors[0].lower()
    assert fragment in result.errors[0]
    assert plugin.calls == []


async def test_plugin_exception_becomes_a_failed_result_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        raise KeyError("missing-thing")

    async with Runtime(plugins=[AsyncConnectorPlugin("thing", boom)], load_entrypoints=False) as rt:
        with caplog.at_level(logging.ERROR, logger="jamey_host"):
            result = await rt.execute_connector("thing", {})
    assert result.success is False
    assert len(result.errors) == 1
    assert "thing" in result.errors[0]
    assert "KeyError" in result.errors[0]
    records = [r for r in caplog.records if r.name == "jamey_host" and r.exc_info]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert records[0].exc_info[0] is KeyError


async def test_sync_plugin_exception_never_raises() -> None:
    def boom(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        raise ZeroDivisionError

    async with Runtime(plugins=[ConnectorPlugin("thing", boom)], load_entrypoints=False) as rt:
        result = await rt.execute_connector("thing", {})
    assert result.success is False
    assert "ZeroDivisionError" in result.errors[0]


@pytest.mark.parametrize("returned", [None, {"success": True}, "ok", True])
async def test_plugin_returning_something_else_is_a_failed_result(returned: object) -> None:
    plugin = ConnectorPlugin("thing", lambda n, p, c: returned)
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", {})
    assert isinstance(result, ConnectorResult)
    assert result.success is False
    assert "thing" in result.errors[0]
    assert type(returned).__name__ in result.errors[0]


async def test_result_metadata_is_redacted() -> None:
    plugin = ConnectorPlugin(
        "thing",
        lambda n, p, c: ConnectorResult.ok(
            "x", metadata={"agent_api_key": "k-123", "Auth_Token": "t", "agent": "a1"}
        ),
    )
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", {})
    assert result.metadata == {"agent_api_key": "***", "Auth_Token": "***", "agent": "a1"}


async def test_params_passed_to_plugin_are_a_copy() -> None:
    def mutate(name: str, params: Mapping[str, str], ctx: ExecutionContext) -> object:
        params["injected"] = "yes"  # type: ignore[index]
        params.pop("a")  # type: ignore[attr-defined]
        return ConnectorResult.ok()

    caller_params = {"a": "1"}
    plugin = ConnectorPlugin("thing", mutate)
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", caller_params)
    assert result.success
    assert caller_params == {"a": "1"}


async def test_read_only_mapping_params_are_accepted() -> None:
    plugin = ConnectorPlugin("thing", lambda n, p, c: ConnectorResult.ok(p["a"]))
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("thing", MappingProxyType({"a": "1"}))
    assert result.output == "1"


async def test_calling_before_start_and_after_close_fails() -> None:
    plugin = ConnectorPlugin()
    runtime = Runtime(plugins=[plugin], load_entrypoints=False)
    before = await runtime.execute_connector("thing", {})
    assert before.success is False
    assert before.errors
    async with runtime:
        assert (await runtime.execute_connector("thing", {})).success
    after = await runtime.execute_connector("thing", {})
    assert after.success is False
    assert len(plugin.calls) == 1


async def test_connectors_and_config_of_runtime() -> None:
    config = RuntimeConfig(strict_plugins=True)
    plugins = [ConnectorPlugin("one"), AsyncConnectorPlugin("two")]
    async with Runtime(config, plugins=plugins, load_entrypoints=False) as runtime:
        assert runtime.config is config
        assert sorted(s.id for s in runtime.connectors()) == ["one", "two"]
    assert Runtime().config == RuntimeConfig()


async def test_two_plugins_with_the_same_connector_id_second_is_failed(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    first = ConnectorPlugin("dup", lambda n, p, c: ConnectorResult.ok("first"))
    second = AsyncConnectorPlugin("dup", lambda n, p, c: ConnectorResult.ok("second"))
    runtime = await jamey_runtime(first, second)
    infos = {info.name: info for info in runtime.plugins()}
    assert infos["ConnectorPlugin"].status == "active"
    assert infos["AsyncConnectorPlugin"].status == "failed"
    assert "dup" in (infos["AsyncConnectorPlugin"].error or "")
    assert (await runtime.execute_connector("dup", {})).output == "first"
    assert [e.details["plugin"] for e in jamey_audit_events.named("plugin.load_failed")] == [
        "AsyncConnectorPlugin"
    ]


async def test_two_objects_of_one_class_do_not_clobber_the_first() -> None:
    """Both default to the class name; the second must not unregister the first."""
    events: list[str] = []

    class Tracked(ConnectorPlugin):
        @hookimpl
        def runtime_startup(self) -> None:
            events.append(f"start {self.spec.id}")

        @hookimpl
        def runtime_shutdown(self) -> None:
            events.append(f"stop {self.spec.id}")

    first, second = Tracked("one"), Tracked("two")
    async with Runtime(plugins=[first, second], load_entrypoints=False) as runtime:
        statuses = [info.status for info in runtime.plugins()]
        assert "active" in statuses
        assert (await runtime.execute_connector("one", {})).success
    assert "start one" in events
    assert "stop one" in events
