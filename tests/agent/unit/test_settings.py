"""The connector's settings: defaults, an empty value is unset, errors name the setting."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import attrs
import pytest

from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.settings import AgentSettings
from jamey_host import PluginInfo, Runtime, RuntimeConfig, setting_variable
from jamey_host.testing import RuntimeFactory

KEYS = [field.name for field in attrs.fields(AgentSettings)]


def agent_plugin_info(runtime: Runtime) -> PluginInfo:
    # A plugin given as an object is named after its class.
    [info] = [info for info in runtime.plugins() if info.name == "AgentOrchestrationPlugin"]
    return info


def test_the_defaults_are_the_contracts() -> None:
    assert AgentSettings.from_mapping({}) == AgentSettings(
        timeout=30.0,
        retries=3,
        ca_bundle=None,
        allow_networks=(),
        max_concurrency=64,
        max_response_bytes=10_485_760,
        registry=None,
        breaker_threshold=5,
        breaker_cooldown=30.0,
        health_interval=None,
    )


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("empty", ["", "   ", "\t"])
def test_an_empty_setting_is_unset(key: str, empty: str) -> None:
    assert AgentSettings.from_mapping({key: empty}) == AgentSettings()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("timeout", "2.5", 2.5),
        ("retries", " 1 ", 1),
        ("ca_bundle", "~/ca.pem", Path("~/ca.pem").expanduser()),
        (
            "allow_networks",
            "10.0.0.0/8, ::1/128",
            (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")),
        ),
        ("max_concurrency", "8", 8),
        ("max_response_bytes", "1000", 1000),
        ("registry", "/srv/agents.db", Path("/srv/agents.db")),
        ("breaker_threshold", "2", 2),
        ("breaker_cooldown", "0.5", 0.5),
        ("health_interval", "60", 60.0),
    ],
)
def test_a_value_is_parsed(key: str, value: str, expected: object) -> None:
    assert getattr(AgentSettings.from_mapping({key: value}), key) == expected


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("timeout", "abc", "expected a number of seconds, got 'abc'"),
        ("timeout", "0", "must be a positive number"),
        ("timeout", "inf", "must be a positive number"),
        ("retries", "1.5", "expected a whole number"),
        ("retries", "0", "must be at least 1"),
        ("allow_networks", "10.0.0.1/8", "'10.0.0.1/8' is not a network"),
        ("allow_networks", "10.0.0.0/8,,::1/128", "empty item in the comma-separated list"),
        ("max_concurrency", "-3", "must be at least 1"),
        ("health_interval", "soon", "expected a number of seconds"),
    ],
)
def test_an_invalid_value_names_the_setting(key: str, value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^Invalid setting {key}: ") as caught:
        AgentSettings.from_mapping({key: value})
    assert reason in str(caught.value)


def test_an_unknown_setting_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Unknown setting") as caught:
        AgentSettings.from_mapping({"timeuot": "5"})
    assert "timeuot" in str(caught.value)
    assert "timeout" in str(caught.value)


async def test_a_variable_set_to_nothing_leaves_the_default(
    jamey_runtime: RuntimeFactory,
) -> None:
    # As a shell gives it: JAMEY_AGENT_ORCHESTRATION__CA_BUNDLE= (and the same for every key).
    environ = {setting_variable("agent_orchestration", key): "" for key in KEYS}
    plugin = AgentOrchestrationPlugin()
    runtime = await jamey_runtime(plugin, config=RuntimeConfig.from_env(environ))
    info = agent_plugin_info(runtime)
    assert (info.status, info.error) == ("active", None)
    assert plugin.settings == AgentSettings()
    listed = await runtime.execute_connector("agent_orchestration", {"action": "list_agents"})
    assert listed.success, listed.errors


async def test_an_invalid_variable_fails_the_startup_naming_the_setting(
    jamey_runtime: RuntimeFactory,
) -> None:
    environ = {"JAMEY_AGENT_ORCHESTRATION__TIMEOUT": "abc"}
    runtime = await jamey_runtime(
        AgentOrchestrationPlugin(), config=RuntimeConfig.from_env(environ)
    )
    info = agent_plugin_info(runtime)
    assert info.status == "failed"
    assert "Invalid setting timeout: expected a number of seconds, got 'abc'" in (info.error or "")
