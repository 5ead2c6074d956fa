"""The ``jamey`` console script, run as a user would (contract section 4)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from jamey_cli import clean_env, jamey

RESULT_FIELDS = {"success", "output", "errors", "warnings", "metadata", "agents_contacted"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", plugins="example_echo,example_async")


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
    assert "plugins, connectors, describe, run" in done.stderr


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


# -- jamey describe, and what jamey run says about params (contract section 10) -------------------

NOTES_PLUGIN = """
    from jamey_host import (
        ActionSpec, CapabilityLevel, ConnectorResult, ConnectorSpec, ParamSpec, hookimpl,
    )

    SPEC = ConnectorSpec(
        id="notes", name="Notes", version="2.0", description="Keeps notes",
        capability_level=CapabilityLevel.READ_WRITE,
        actions=(
            ActionSpec("add", "Add a note", params=(
                ParamSpec("title", "the note's title", required=True),
                ParamSpec("body", "what it says", required=True),
                ParamSpec("token", "the owner's token", required=True, secret=True),
                ParamSpec("tag_*", "tags"),
            )),
            "list",
        ),
    )

    class Notes:
        @hookimpl
        def register_connectors(self):
            return [SPEC]

        @hookimpl
        def runtime_startup(self, runtime):
            state_dir = runtime.config.state_dir
            if state_dir is not None:
                state_dir.mkdir(parents=True, exist_ok=True)
                if not (state_dir / "notes.db").exists():
                    (state_dir / "notes.db").write_text("")
                    runtime.audit("notes.file_created", outcome="warning", connector="notes",
                                  path=str(state_dir / "notes.db"), message="a new notes file")
            runtime.audit("notes.started", outcome="info", connector="notes")

        @hookimpl
        def execute_connector(self, params, context):
            context.audit("notes.odd", outcome="warning", message="seen during a call")
            if context.action == "list":
                return ConnectorResult.ok("[]")
            if context.action == "add":
                return ConnectorResult.ok("added")
            return ConnectorResult.fail(f"Unknown action: {context.action}")
"""


@pytest.fixture
def notes(env: dict[str, str], site: FakeSite) -> dict[str, str]:
    site.module("fake_notes", NOTES_PLUGIN)
    site.entry_point("jamey_host", "notes = fake_notes:Notes")
    env["JAMEY_LOAD_PLUGINS"] = "notes"
    return env


def test_describe_prints_every_action_with_its_params(notes: dict[str, str]) -> None:
    home = notes["JAMEY_HOME"]
    done = jamey("describe", "notes", env=notes)
    assert done.returncode == 0, done.stderr
    # starting the plugin created its file: said once, as jamey run says it
    assert done.stderr == (
        f"jamey: created notes.db in {home} (the state directory; JAMEY_HOME chooses another)\n"
    )
    assert jamey("describe", "notes", env=notes).stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "notes: Notes 2.0"
    assert "  capability read_write (granted); no approval needed" in lines
    assert "add: Add a note" in lines
    rows = {
        line.split()[0]: line for line in lines if line.startswith("  ") and "capab" not in line
    }
    assert rows["title"].split(None, 2)[1:] == ["required", "the note's title"]
    assert rows["token"].split(None, 3)[1:] == ["required,", "secret", "the owner's token"]
    assert rows["tag_*"].split(None, 2)[1:] == ["optional", "tags"]
    assert lines[lines.index("list") + 1] == "  (no params)"
    assert lines[-1] == "Call one: jamey run notes action=add title=... body=... token=..."


def test_describe_json_is_the_connectors_json_entry(notes: dict[str, str]) -> None:
    done = jamey("describe", "notes", "--json", env=notes)
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout)
    assert {"id", "name", "capability_level", "actions"} <= set(described)
    assert described["id"] == "notes"
    assert described["capability_level"] == "read_write"
    add, listing = described["actions"]
    assert add["name"] == "add"
    assert add["description"] == "Add a note"
    assert add["params"][2] == {
        "name": "token",
        "description": "the owner's token",
        "required": True,
        "secret": True,
    }
    assert listing == {"name": "list", "description": "", "params": []}
    (listed,) = json.loads(jamey("connectors", "--json", env=notes).stdout)
    assert listed == described


def test_describe_an_unknown_or_unavailable_connector_exits_1(
    notes: dict[str, str], site: FakeSite
) -> None:
    done = jamey("describe", "nosuch", env=notes)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[-1] == "jamey: error: Connector not found: nosuch"
    done = jamey("describe", "nosuch", env=notes)
    assert done.stderr == "jamey: error: Connector not found: nosuch\n"
    site.module("fake_fragile", FRAGILE_PLUGIN)
    site.entry_point("jamey_host", "fragile = fake_fragile:Fragile")
    notes["JAMEY_LOAD_PLUGINS"] = "fragile"
    done = jamey("describe", "fragile", "--json", env=notes)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "jamey: error: Connector unavailable: fragile: Invalid setting timeout: expected a "
        "number of seconds, got 'abc'\n"
    )


def test_run_help_points_to_describe(env: dict[str, str]) -> None:
    done = jamey("run", "echo", "--help", env=env)
    assert done.returncode == 0
    assert "jamey describe CONNECTOR" in " ".join(done.stdout.split())


def test_run_reports_every_missing_param_and_points_to_describe(notes: dict[str, str]) -> None:
    done = jamey("run", "notes", "action=add", "body=", env=notes)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-3:] == [
        "error: Missing title",
        "error: Missing token",
        "hint: jamey describe notes lists its actions and the params each takes",
    ]
    unknown = jamey("run", "notes", "action=remove", env=notes)
    assert unknown.stderr.splitlines()[-1].startswith("hint: jamey describe notes")
    fine = jamey("run", "notes", "action=add", "title=t", "body=b", "token=x", env=notes)
    assert fine.returncode == 0, fine.stderr
    assert "hint" not in fine.stderr


def test_run_says_once_what_a_first_run_created_and_the_startup_warnings(
    notes: dict[str, str],
) -> None:
    home = Path(notes["JAMEY_HOME"])
    first = jamey("run", "notes", "action=list", env=notes)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "[]\n"
    assert first.stderr.splitlines() == [
        f"jamey: warning: notes.file_created: a new notes file (path: {home / 'notes.db'})",
        f"jamey: created notes.db in {home} (the state directory; JAMEY_HOME chooses another)",
    ]
    again = jamey("run", "notes", "action=list", env=notes)
    assert (again.returncode, again.stderr) == (0, "")  # a warning during the call is not shown
    # --audit prints every event already: no second line for the same warning
    (home / "notes.db").unlink()
    audited = jamey("run", "notes", "action=list", "--audit", env=notes)
    assert "jamey: warning:" not in audited.stderr
    assert audited.stderr.count("notes.file_created") == 1


@pytest.mark.parametrize("command", [["run", "echo", "action=echo"], ["plugins"], ["connectors"]])
@pytest.mark.parametrize("under", [False, True])
def test_jamey_home_that_cannot_be_a_directory_is_one_line_exit_2(
    env: dict[str, str], tmp_path: Path, command: list[str], under: bool
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    env["JAMEY_HOME"] = str(a_file / "state" if under else a_file)
    done = jamey(*command, env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    if under:
        expected = f"JAMEY_HOME: {a_file / 'state'} cannot be created: {a_file} is a file"
    else:
        expected = f"JAMEY_HOME: {a_file} is a file, not a directory"
    assert done.stderr.startswith(f"jamey: error: {expected}")
    assert len(done.stderr.splitlines()) == 1


def test_a_default_state_directory_that_is_a_file_is_named(
    env: dict[str, str], tmp_path: Path
) -> None:
    del env["JAMEY_HOME"]
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "jamey").write_text("")
    done = jamey("run", "echo", "action=echo", env=env)
    assert done.returncode == 2
    assert done.stderr == (
        f"jamey: error: the state directory: {tmp_path / 'data' / 'jamey'} is a file, not a "
        "directory: point it at a directory (or set JAMEY_HOME)\n"
    )
