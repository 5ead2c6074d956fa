"""The ``jamey`` console script, run as a user would (contract section 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

JAMEY = str(Path(sys.executable).parent / "jamey")
RESULT_FIELDS = {"success", "output", "errors", "warnings", "metadata", "agents_contacted"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JAMEY_")}
    environ["JAMEY_LOAD_PLUGINS"] = "example_echo,example_async"
    environ["JAMEY_HOME"] = str(tmp_path / "home")
    return environ


def jamey(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JAMEY, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_help_lists_subcommands(env: dict[str, str]) -> None:
    done = jamey("--help", env=env)
    assert done.returncode == 0
    for command in ("plugins", "connectors", "run"):
        assert command in done.stdout


def test_module_invocation_matches_script(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from jamey_host.cli import run_console; run_console()", "plugins"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert "example_echo" in done.stdout


def test_plugins_json(env: dict[str, str]) -> None:
    env["JAMEY_LOAD_PLUGINS"] = "example_echo,example_async,shadow_echo,broken_import"
    done = jamey("plugins", "--json", env=env)
    assert done.returncode == 0, done.stderr
    data = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert data["example_echo"]["status"] == "active"
    assert data["example_echo"]["version"] == "1.2.3"
    assert data["example_echo"]["connectors"] == ["echo"]
    assert data["example_async"]["connectors"] == ["counter", "admin_tool"]
    assert data["shadow_echo"]["status"] == "failed"
    assert "echo" in data["shadow_echo"]["error"]
    assert data["broken_import"]["status"] == "failed"
    assert data["broken_invalid_spec"]["status"] == "blocked"
    assert all(set(entry) >= {"name", "version", "status", "error"} for entry in data.values())
    assert "Traceback" not in done.stderr


def test_plugins_table(env: dict[str, str]) -> None:
    done = jamey("plugins", env=env)
    assert done.returncode == 0
    line = next(line for line in done.stdout.splitlines() if line.startswith("example_echo "))
    assert "active" in line
    assert "1.2.3" in line


def test_connectors_table(env: dict[str, str]) -> None:
    done = jamey("connectors", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "CAPABILITY" in lines[0]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"echo", "counter", "admin_tool"}
    assert "read_only" in rows["echo"]
    assert "system_admin" in rows["admin_tool"]


def test_connectors_json(env: dict[str, str]) -> None:
    done = jamey("connectors", "--json", env=env)
    assert done.returncode == 0
    data = {entry["id"]: entry for entry in json.loads(done.stdout)}
    assert data["echo"]["capability_level"] == "read_only"
    assert data["admin_tool"]["requires_approval"] is True


def test_run_json_success(env: dict[str, str]) -> None:
    done = jamey("run", "echo", "action=echo", "x=1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == RESULT_FIELDS
    assert data["success"] is True
    assert json.loads(data["output"]) == {"action": "echo", "x": "1"}


def test_run_failing_call_exits_1(env: dict[str, str]) -> None:
    done = jamey("run", "nosuch", "action=x", "--json", env=env)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert set(data) == RESULT_FIELDS
    assert data["success"] is False
    assert data["errors"] == ["Connector not found: nosuch"]


def test_run_plain_failure_prints_error(env: dict[str, str]) -> None:
    done = jamey("run", "echo", "action=shout", env=env)
    assert done.returncode == 1
    assert "Unknown action: shout" in done.stderr


def test_run_bad_param_is_a_usage_error(env: dict[str, str]) -> None:
    done = jamey("run", "echo", "badparam", env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "badparam" in line]
    assert len(lines) == 1
    assert "KEY=VALUE" in lines[0]


def test_bad_capabilities_variable_is_a_usage_error(env: dict[str, str]) -> None:
    env["JAMEY_CAPABILITIES"] = "read_only,root"
    done = jamey("connectors", env=env)
    assert done.returncode == 2
    assert "JAMEY_CAPABILITIES" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_denied_by_capability(env: dict[str, str]) -> None:
    env["JAMEY_CAPABILITIES"] = "read_only"
    done = jamey("run", "counter", "action=increment", env=env)
    assert done.returncode == 1
    assert "Capability denied" in done.stderr
    allowed = jamey("run", "echo", "action=echo", env=env)
    assert allowed.returncode == 0


class FakeSite:
    """A directory on PYTHONPATH holding modules and one distribution's entry points."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.entry_points: dict[str, list[str]] = {}
        root.mkdir()
        env["PYTHONPATH"] = str(root)

    def module(self, name: str, source: str) -> None:
        (self.root / f"{name}.py").write_text(textwrap.dedent(source))

    def entry_point(self, group: str, line: str) -> None:
        self.entry_points.setdefault(group, []).append(line)
        dist = self.root / "fake_jamey_dist-0.1.dist-info"
        dist.mkdir(exist_ok=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: fake-jamey-dist\nVersion: 0.1\n"
        )
        (dist / "entry_points.txt").write_text(
            "".join(
                f"[{name}]\n" + "".join(f"{entry}\n" for entry in entries)
                for name, entries in self.entry_points.items()
            )
        )


@pytest.fixture
def site(tmp_path: Path, env: dict[str, str]) -> FakeSite:
    return FakeSite(tmp_path / "site", env)


HELLO_COMMAND = """
    import os
    from jamey_host import CliCommand

    if os.environ.get("IMPORT_LOG"):
        with open(os.environ["IMPORT_LOG"], "a") as log:
            log.write(__name__ + "\\n")

    def _configure(parser):
        parser.add_argument("--times", type=int, default=1)

    async def _run(args):
        print(" ".join(["hello"] * args.times))
        return 3

    COMMAND = CliCommand(help="say hello from a plugin", run=_run, configure=_configure)
"""


def test_plugin_contributed_subcommand(env: dict[str, str], site: FakeSite) -> None:
    site.module("fake_jamey_cmd", HELLO_COMMAND)
    site.entry_point("jamey_host.commands", "hello = fake_jamey_cmd:COMMAND")
    listed = jamey("--help", env=env)
    assert listed.returncode == 0
    assert "hello" in listed.stdout
    assert "say hello from a plugin" in listed.stdout
    done = jamey("hello", "--times", "2", env=env)
    assert done.returncode == 3
    assert done.stdout.strip() == "hello hello"


FRAGILE_PLUGIN = """
    from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, hookimpl

    class Fragile:
        @hookimpl
        def register_connectors(self):
            return [ConnectorSpec(id="fragile", name="Fragile", version="1.0", description="d",
                                  capability_level=CapabilityLevel.READ_ONLY, actions=("go",))]

        @hookimpl
        def execute_connector(self):
            return ConnectorResult.ok("never")

        @hookimpl
        def runtime_startup(self):
            raise ValueError("Invalid setting timeout: expected a number of seconds, got 'abc'")
"""


def test_a_connector_whose_plugin_failed_to_start_is_reported_once(
    env: dict[str, str], site: FakeSite
) -> None:
    site.module("fake_fragile", FRAGILE_PLUGIN)
    site.entry_point("jamey_host", "fragile = fake_fragile:Fragile")
    env["JAMEY_LOAD_PLUGINS"] = "fragile"
    reason = "Invalid setting timeout: expected a number of seconds, got 'abc'"
    done = jamey("run", "fragile", "action=go", env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"error: Connector unavailable: fragile: {reason}\n"
    listed = jamey("plugins", env=env)
    assert listed.returncode == 0
    assert (listed.stdout + listed.stderr).count(reason) == 1
    as_json = jamey("run", "fragile", "action=go", "--json", env=env)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["errors"] == [f"Connector unavailable: fragile: {reason}"]
    assert as_json.stderr == ""


STATE_DIR_PLUGIN = """
    from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, hookimpl

    class WhereIsState:
        @hookimpl
        def register_connectors(self):
            return [ConnectorSpec(id="where", name="Where", version="1.0", description="d",
                                  capability_level=CapabilityLevel.READ_ONLY, actions=("go",))]

        @hookimpl
        def runtime_startup(self, runtime):
            self.state_dir = runtime.config.state_dir

        @hookimpl
        def execute_connector(self):
            return ConnectorResult.ok(str(self.state_dir))
"""


def test_run_keeps_state_where_from_env_does(
    env: dict[str, str], site: FakeSite, tmp_path: Path
) -> None:
    site.module("fake_where", STATE_DIR_PLUGIN)
    site.entry_point("jamey_host", "where = fake_where:WhereIsState")
    env["JAMEY_LOAD_PLUGINS"] = "where"
    home = env["JAMEY_HOME"]
    done = jamey("run", "where", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == home
    embedded = subprocess.run(
        [
            sys.executable,
            "-c",
            "from jamey_host import RuntimeConfig as C; print(C.from_env().state_dir)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert embedded.stdout.strip() == home
    # without JAMEY_HOME: the platform's per-user directory for jamey run, memory when embedded
    del env["JAMEY_HOME"]
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    done = jamey("run", "where", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "data" / "jamey")


def test_an_unknown_option_is_named(env: dict[str, str]) -> None:
    for args in (["--bogus"], ["--bogus", "plugins"], ["plugins", "--bogus"]):
        done = jamey(*args, env=env)
        assert done.returncode == 2, args
        assert "--bogus" in done.stderr, args
        assert "Traceback" not in done.stderr


def test_no_command_lists_the_commands(env: dict[str, str]) -> None:
    done = jamey(env=env)
    assert done.returncode == 2
    assert "plugins, connectors, run" in done.stderr


def test_run_param_with_an_empty_key_says_so(env: dict[str, str]) -> None:
    done = jamey("run", "echo", "=s3cr3t-value", env=env)
    assert done.returncode == 2
    assert "got ''" not in done.stderr
    assert "nothing before its '='" in done.stderr
    assert "KEY=VALUE" in done.stderr
    assert "s3cr3t-value" not in done.stderr  # a value is never echoed: it may be a key


def test_run_param_given_twice_is_refused(env: dict[str, str]) -> None:
    done = jamey("run", "echo", "action=a", "action=echo", env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "'action' is given twice" in done.stderr
    assert "Traceback" not in done.stderr


def test_strict_plugins_variable_says_what_it_accepts(env: dict[str, str]) -> None:
    env["JAMEY_STRICT_PLUGINS"] = "maybe"
    done = jamey("plugins", env=env)
    assert done.returncode == 2
    assert "JAMEY_STRICT_PLUGINS" in done.stderr
    assert "1, true, yes, on, 0, false, no, off" in done.stderr
    env["JAMEY_STRICT_PLUGINS"] = "yes"
    assert jamey("plugins", env=env).returncode == 0


def test_a_plugin_command_module_is_imported_only_when_needed(
    env: dict[str, str], site: FakeSite, tmp_path: Path
) -> None:
    site.module("fake_hello_cmd", HELLO_COMMAND)
    site.module("fake_other_cmd", HELLO_COMMAND)
    site.entry_point("jamey_host.commands", "hello = fake_hello_cmd:COMMAND")
    site.entry_point("jamey_host.commands", "other = fake_other_cmd:COMMAND")
    imports = tmp_path / "imports.log"
    env["IMPORT_LOG"] = str(imports)

    def imported_by(*args: str) -> list[str]:
        imports.write_text("")
        done = jamey(*args, env=env)
        assert done.returncode in (0, 3), done.stderr
        return sorted(imports.read_text().split())

    assert imported_by("plugins") == []
    assert imported_by("connectors") == []
    assert imported_by("run", "echo", "action=echo") == []
    assert imported_by("run", "--help") == []
    assert imported_by("hello") == ["fake_hello_cmd"]
    assert imported_by("--help") == ["fake_hello_cmd", "fake_other_cmd"]
