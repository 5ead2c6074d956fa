"""RuntimeConfig defaults and from_env (contract section 3)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from jamey_host import CapabilityLevel, ConfigError, RuntimeConfig, default_state_dir
from jamey_host.values import FLAG_SPELLINGS

C = CapabilityLevel


def test_defaults() -> None:
    config = RuntimeConfig()
    assert config.granted_capabilities == frozenset(C) - {
        C.SYSTEM_ADMIN,
        C.SELF_MODIFY,
        C.FULL_ACCESS,
    }
    assert isinstance(config.granted_capabilities, frozenset)
    assert config.load_plugins is None
    assert config.disabled_plugins == frozenset()
    assert config.strict_plugins is False
    assert dict(config.connector_settings) == {}


def test_from_env_with_nothing_set_equals_defaults() -> None:
    config = RuntimeConfig.from_env({})
    assert config.granted_capabilities == RuntimeConfig().granted_capabilities
    assert config.load_plugins is None
    assert config.disabled_plugins == frozenset()
    assert config.strict_plugins is False


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMEY_CAPABILITIES", "read_only")
    assert RuntimeConfig.from_env().granted_capabilities == {C.READ_ONLY}


def test_capabilities_list() -> None:
    config = RuntimeConfig.from_env({"JAMEY_CAPABILITIES": "read_only, web_access"})
    assert config.granted_capabilities == {C.READ_ONLY, C.WEB_ACCESS}


def test_capabilities_all() -> None:
    config = RuntimeConfig.from_env({"JAMEY_CAPABILITIES": "all"})
    assert config.granted_capabilities == frozenset(C)


def test_unknown_capability_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="JAMEY_CAPABILITIES") as info:
        RuntimeConfig.from_env({"JAMEY_CAPABILITIES": "read_only,root"})
    assert "root" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "variable", ["JAMEY_CAPABILITIES", "JAMEY_LOAD_PLUGINS", "JAMEY_DISABLE_PLUGINS"]
)
def test_malformed_list_is_an_error_naming_the_variable(variable: str) -> None:
    value = "read_only,,web_access" if variable == "JAMEY_CAPABILITIES" else "a,,b"
    with pytest.raises(ConfigError, match=variable):
        RuntimeConfig.from_env({variable: value})


def test_load_plugins_unset_empty_and_list() -> None:
    assert RuntimeConfig.from_env({}).load_plugins is None
    assert RuntimeConfig.from_env({"JAMEY_LOAD_PLUGINS": ""}).load_plugins == frozenset()
    listed = RuntimeConfig.from_env({"JAMEY_LOAD_PLUGINS": "example_echo,example_async"})
    assert listed.load_plugins == {"example_echo", "example_async"}


def test_disable_plugins() -> None:
    config = RuntimeConfig.from_env({"JAMEY_DISABLE_PLUGINS": "shadow_echo, broken_import"})
    assert config.disabled_plugins == {"shadow_echo", "broken_import"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("0", False), ("", False), ("yes", True), ("TRUE", True), ("off", False)],
)
def test_strict_plugins(raw: str, expected: bool) -> None:
    assert RuntimeConfig.from_env({"JAMEY_STRICT_PLUGINS": raw}).strict_plugins is expected


def test_strict_plugins_bad_value_names_the_variable_and_what_is_accepted() -> None:
    with pytest.raises(ConfigError, match="JAMEY_STRICT_PLUGINS") as raised:
        RuntimeConfig.from_env({"JAMEY_STRICT_PLUGINS": "maybe"})
    message = str(raised.value)
    assert "'maybe'" in message
    assert FLAG_SPELLINGS in message


def test_from_env_takes_the_state_directory_from_jamey_home(tmp_path: Path) -> None:
    config = RuntimeConfig.from_env({"JAMEY_HOME": str(tmp_path)})
    assert config.state_dir == tmp_path
    assert config.connector_settings == {}  # JAMEY_HOME is not a connector setting


def test_jamey_home_that_cannot_be_a_directory_names_the_variable_and_the_file(
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match=rf"^JAMEY_HOME: {a_file} is a file, not a directory"):
        RuntimeConfig.from_env({"JAMEY_HOME": str(a_file)})
    with pytest.raises(ConfigError, match=f"cannot be created: {a_file} is a file"):
        RuntimeConfig.from_env({"JAMEY_HOME": str(a_file / "x" / "y")})
    # a directory that does not exist yet is fine: the plugins that keep state create it
    missing = tmp_path / "new" / "state"
    assert RuntimeConfig.from_env({"JAMEY_HOME": str(missing)}).state_dir == missing


def test_without_jamey_home_an_embedded_runtime_keeps_state_in_memory() -> None:
    assert RuntimeConfig.from_env({}).state_dir is None
    assert RuntimeConfig.from_env({"JAMEY_HOME": ""}).state_dir is None  # empty means unset
    assert RuntimeConfig().state_dir is None


def test_jamey_home_with_a_tilde_is_expanded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert RuntimeConfig.from_env({"JAMEY_HOME": "~/state"}).state_dir == tmp_path / "state"


def test_jamey_run_uses_the_same_directory_as_from_env(tmp_path: Path) -> None:
    env = {"JAMEY_HOME": str(tmp_path / "home")}
    assert default_state_dir(env) == RuntimeConfig.from_env(env).state_dir
    assert default_state_dir({"XDG_DATA_HOME": str(tmp_path)}).name == "jamey"


def test_connector_settings_from_double_underscore_variables() -> None:
    config = RuntimeConfig.from_env(
        {
            "JAMEY_AGENT_ORCHESTRATION__TIMEOUT": "10",
            "JAMEY_AGENT_ORCHESTRATION__CA_BUNDLE": "/x.pem",
            "JAMEY_ECHO__COLOR": "blue",
            "OTHER__VAR": "ignored",
        }
    )
    assert config.connector_settings["agent_orchestration"]["timeout"] == "10"
    assert config.connector_settings["agent_orchestration"]["ca_bundle"] == "/x.pem"
    assert dict(config.connector_settings["echo"]) == {"color": "blue"}
    assert set(config.connector_settings) == {"agent_orchestration", "echo"}
    assert dict(config.settings_for("agent_orchestration")) == {
        "timeout": "10",
        "ca_bundle": "/x.pem",
    }


def test_bad_setting_variable_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match="JAMEY_BAD-ID__KEY"):
        RuntimeConfig.from_env({"JAMEY_BAD-ID__KEY": "1"})


def test_settings_for_unknown_connector_is_empty_and_read_only() -> None:
    config = RuntimeConfig(connector_settings={"echo": {"k": "v"}})
    assert dict(config.settings_for("nothing")) == {}
    settings = config.settings_for("echo")
    assert dict(settings) == {"k": "v"}
    with pytest.raises(TypeError):
        settings["k"] = "changed"  # type: ignore[index]


def test_config_is_frozen() -> None:
    config = RuntimeConfig(connector_settings={"echo": {"k": "v"}})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.strict_plugins = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.connector_settings["echo"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        config.connector_settings["echo"]["k"] = "x"  # type: ignore[index]


def test_connector_settings_copied_from_caller() -> None:
    source = {"echo": {"k": "v"}}
    config = RuntimeConfig(connector_settings=source)
    source["echo"]["k"] = "changed"
    assert config.settings_for("echo")["k"] == "v"


def test_code_config_converts_values() -> None:
    config = RuntimeConfig(
        granted_capabilities=["read_only"], load_plugins=["a"], disabled_plugins=["b"]
    )
    assert config.granted_capabilities == {C.READ_ONLY}
    assert config.load_plugins == {"a"}
    assert config.disabled_plugins == {"b"}


def test_single_underscore_settings_are_read_for_a_known_connector() -> None:
    config = RuntimeConfig.from_env(
        {
            "JAMEY_AGENT_ORCHESTRATION_TIMEOUT": "7",
            "JAMEY_AGENT_ORCHESTRATION_RETRIES": "2",
            "JAMEY_AGENT_ORCHESTRATION__RETRIES": "5",  # the double underscore wins
            "JAMEY_SECRET_KEY": "never-a-setting",
        }
    )
    assert dict(config.settings_for("agent_orchestration")) == {"timeout": "7", "retries": "5"}
    assert all("never-a-setting" not in dict(config.settings_for(c)).values() for c in ("secret",))
