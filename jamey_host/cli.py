"""The ``jamey`` command: inspect plugins and connectors, run one call, and plugin subcommands.

A plugin's subcommand (a :class:`~jamey_host.CliCommand` entry point) is imported only when it
is needed: to list it in ``jamey --help``, or to run it. The built-in commands import none.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, TextIO, final

import attrs

from jamey_host.audit import AUDIT_LOGGER_NAME, AuditEvent
from jamey_host.commands import CliCommand
from jamey_host.config import (
    HOME_VAR,
    ConfigError,
    RuntimeConfig,
    default_state_dir,
    state_dir_problem,
)
from jamey_host.describe import describe_json, describe_text
from jamey_host.hooks import PluginError
from jamey_host.lifecycle import PLUGINS_LOGGER_NAME
from jamey_host.markers import COMMANDS_ENTRY_POINT_GROUP, hookimpl
from jamey_host.runtime import Runtime
from jamey_host.specs import ConnectorSpec

USAGE_ERROR = 2
BUILTIN_COMMANDS = ("plugins", "connectors", "describe", "run")
# Files SQLite keeps beside a database while it is open: not state a user made.
_TRANSIENT_SUFFIXES = ("-wal", "-shm", "-journal")


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


def _plugin_commands(stderr: TextIO, wanted: str | None = None) -> dict[str, CliCommand]:
    """The subcommands that plugins add: just ``wanted`` when it is one of them, else all.

    All are imported for ``jamey --help`` and for a mistyped command (argparse lists them);
    running one needs only its own module.
    """
    entry_points = [
        entry_point
        for entry_point in importlib.metadata.entry_points(group=COMMANDS_ENTRY_POINT_GROUP)
        if entry_point.name not in BUILTIN_COMMANDS
    ]
    if any(entry_point.name == wanted for entry_point in entry_points):
        entry_points = [entry_point for entry_point in entry_points if entry_point.name == wanted]
    commands: dict[str, CliCommand] = {}
    for entry_point in entry_points:
        name = entry_point.name
        if name in commands:  # the same distribution found twice on sys.path
            continue
        try:
            command = entry_point.load()
        except Exception as exc:
            print(f"jamey: skipped command {name!r}: {exc}", file=stderr)
            continue
        if not isinstance(command, CliCommand):
            print(f"jamey: skipped command {name!r}: not a CliCommand", file=stderr)
            continue
        commands[name] = command
    return commands


def _command_named(argv: Sequence[str]) -> str | None:
    """The subcommand a command line names: its first word that is not an option.

    Sound because ``jamey`` itself has no option that takes a value.
    """
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(commands: dict[str, CliCommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jamey",
        description="Run and inspect jamey-host connectors. Settings come from JAMEY_* variables.",
    )
    # Not required=True: argparse would then report a missing command before an unknown option.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in (
        ("plugins", "list installed plugins with their status"),
        ("connectors", "list the connectors that can be called"),
    ):
        listing = sub.add_parser(name, help=help_text, description=help_text)
        listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    describe = sub.add_parser(
        "describe",
        help="show a connector's actions and the params each takes",
        description="Show a connector's actions and the params each takes (required, secret).",
    )
    describe.add_argument("connector", help="the connector id, e.g. agent_orchestration")
    describe.add_argument("--json", action="store_true", help="print one JSON object")
    run = sub.add_parser(
        "run",
        help="call one connector through the runtime",
        description="Call one connector; exit status 0 on success, 1 on a failed call.",
        epilog="What a connector's actions take: jamey describe CONNECTOR. "
        "Example: jamey run agent_orchestration action=list_agents",
    )
    run.add_argument("connector", help="the connector id, e.g. agent_orchestration")
    run.add_argument("params", nargs="*", metavar="KEY=VALUE", help="the call's params")
    run.add_argument("--json", action="store_true", help="print the result as one JSON object")
    run.add_argument("--user", help="user id recorded in the audit trail")
    run.add_argument("--session", help="session id recorded in the audit trail")
    run.add_argument("--audit", action="store_true", help="print audit events to stderr")
    for name, command in sorted(commands.items()):
        plugin_parser = sub.add_parser(
            name, help=command.help, description=command.description or command.help
        )
        if command.configure is not None:
            command.configure(plugin_parser)
    return parser


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` words as params; each KEY non-empty, and given once.

    What follows an ``=`` is never repeated in an error: it may be a secret.
    """
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"expected KEY=VALUE, got {pair!r}")
        if not key:
            raise UsageError(
                "a param has nothing before its '=' ('=...'): expected KEY=VALUE, "
                "e.g. action=list_agents"
            )
        if key in params:
            raise UsageError(f"param {key!r} is given twice: give each KEY once")
        params[key] = value
    return params


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


async def _list(
    command: str, as_json: bool, config: RuntimeConfig, out: TextIO, err: TextIO
) -> int:
    state = _StateFiles(config.state_dir)
    async with Runtime(config) as runtime:
        if command == "plugins":
            infos = runtime.plugins()
            if as_json:
                print(json.dumps([info.to_dict() for info in infos], indent=2), file=out)
            else:
                rows = [
                    [
                        i.name,
                        i.version or "-",
                        i.status,
                        ",".join(i.connectors) or "-",
                        i.error or "",
                    ]
                    for i in infos
                ]
                print(_table(rows, ["NAME", "VERSION", "STATUS", "CONNECTORS", "ERROR"]), file=out)
        else:
            specs = runtime.connectors()
            granted = config.granted_capabilities
            if as_json:
                data = [describe_json(spec, granted) for spec in specs]
                print(json.dumps(data, indent=2), file=out)
            else:
                rows = [
                    [
                        s.id,
                        s.version,
                        s.capability_level.value,
                        "yes" if s.capability_level in granted else "no",
                        "yes" if s.requires_approval else "no",
                        ",".join(s.actions),
                    ]
                    for s in specs
                ]
                headers = ["ID", "VERSION", "CAPABILITY", "GRANTED", "APPROVAL", "ACTIONS"]
                print(_table(rows, headers), file=out)
    state.say_created(err)
    return 0


async def _describe(
    args: argparse.Namespace, config: RuntimeConfig, out: TextIO, err: TextIO
) -> int:
    state = _StateFiles(config.state_dir)
    refused: list[str] = []
    async with Runtime(config) as runtime:
        spec = _spec_of(runtime, args.connector)
        if spec is None:
            # No plugin is called: this gives the runtime's own "Connector not found: NAME", or
            # "Connector unavailable: NAME: reason" when its plugin failed to start.
            refused = (await runtime.execute_connector(args.connector, {})).errors
    state.say_created(err)
    if spec is None:
        print(f"jamey: error: {'; '.join(refused)}", file=err)
        return 1
    granted = config.granted_capabilities
    if args.json:
        print(json.dumps(describe_json(spec, granted), indent=2), file=out)
    else:
        print(describe_text(spec, granted), file=out)
    return 0


def _spec_of(runtime: Runtime, connector_id: str) -> ConnectorSpec | None:
    return next((spec for spec in runtime.connectors() if spec.id == connector_id), None)


async def _run(args: argparse.Namespace, config: RuntimeConfig, out: TextIO, err: TextIO) -> int:
    params = _parse_params(args.params)
    state = _StateFiles(config.state_dir)
    notices = _StartupWarnings(err, listening=not args.audit)
    async with Runtime(config, plugins=[notices]) as runtime:
        notices.listening = False  # what the call itself audits is its result's business
        result = await runtime.execute_connector(
            args.connector, params, user_id=args.user, session_id=args.session
        )
        spec = _spec_of(runtime, args.connector)
    state.say_created(err)
    if args.json:
        print(json.dumps(result.to_dict()), file=out)
    else:
        if result.output:
            print(_pretty(result.output), file=out)
        for warning in result.warnings:
            print(f"warning: {warning}", file=err)
        for error in result.errors:
            print(f"error: {error}", file=err)
    if not result.success and spec is not None and _params_unfit(spec, params):
        print(
            f"hint: jamey describe {spec.id} lists its actions and the params each takes", file=err
        )
    return 0 if result.success else 1


def _params_unfit(spec: ConnectorSpec, params: dict[str, str]) -> bool:
    """Whether the call named no action, one ``spec`` lacks, or left out a required param."""
    action = params.get("action")
    if not spec.actions:
        return False
    return action not in spec.actions or bool(spec.missing_params(action, params))


@final
class _StateFiles:
    """What a command finds in the state directory, so that it can say what it created there.

    Plugins create their files when the runtime starts them (a registry, a master key): the
    first command of any kind, even one that only lists, may be the one that does.
    """

    __slots__ = ("_before", "_state_dir")

    def __init__(self, state_dir: Path | None) -> None:
        self._state_dir = state_dir
        self._before = self._names()

    def say_created(self, err: TextIO) -> None:
        created = sorted(self._names() - self._before)
        if created:
            print(
                f"jamey: created {', '.join(created)} in {self._state_dir} (the state "
                f"directory; {HOME_VAR} chooses another)",
                file=err,
            )

    def _names(self) -> set[str]:
        """The names in the state directory, bar SQLite's transient companions of a database."""
        if self._state_dir is None:
            return set()
        try:
            names = {path.name for path in self._state_dir.iterdir()}
        except OSError:  # not there yet (it is created on first use), or not readable
            return set()
        return {name for name in names if not name.endswith(_TRANSIENT_SUFFIXES)}


class _StartupWarnings:
    """Prints to stderr the warning events plugins emit while the runtime starts.

    They are things a user should not learn only from an audit log nobody reads: a master key
    file just created (back it up), networks exempt from an address ban.
    """

    def __init__(self, stream: TextIO, *, listening: bool) -> None:
        self.stream = stream
        self.listening = listening

    @hookimpl
    def audit_event(self, event: AuditEvent) -> None:
        if self.listening and event.outcome == "warning":
            print(f"jamey: warning: {_warning_text(event)}", file=self.stream)


def _warning_text(event: AuditEvent) -> str:
    details = dict(event.details)
    message = details.pop("message", None)
    shown = [f"{key}: {_detail(value)}" for key, value in details.items()]
    text = f"{event.event}: {message}" if message else event.event
    if event.error:
        text += f": {event.error}"
    return f"{text} ({'; '.join(shown)})" if shown else text


def _detail(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def _pretty(output: str) -> str:
    try:
        return json.dumps(json.loads(output), indent=2)
    except ValueError:
        return output


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jamey`` console script; returns the exit status."""
    out, err = sys.stdout, sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    named = _command_named(argv)
    commands = {} if named in BUILTIN_COMMANDS else _plugin_commands(err, wanted=named)
    parser = build_parser(commands)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.error(f"give a COMMAND: {', '.join([*BUILTIN_COMMANDS, *sorted(commands)])}")
    try:
        config = RuntimeConfig.from_env()
        if args.command in commands:
            answer = commands[args.command].run(args)
            return asyncio.run(_await(answer)) if inspect.isawaitable(answer) else int(answer)
        if getattr(args, "audit", False):
            _print_audit_to(err)
        if args.command in ("plugins", "run", "describe"):
            _quiet_plugin_failures()
        if args.command == "run":
            return asyncio.run(_run(args, _with_state_dir(config), out, err))
        if args.command == "describe":
            return asyncio.run(_describe(args, config, out, err))
        return asyncio.run(_list(args.command, args.json, config, out, err))
    except (ConfigError, UsageError) as exc:
        print(f"jamey: error: {exc}", file=err)
        return USAGE_ERROR
    except PluginError as exc:
        print(f"jamey: error: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        return 130


def _with_state_dir(config: RuntimeConfig) -> RuntimeConfig:
    """``config`` with a state directory: ``jamey run`` keeps state between commands."""
    if config.state_dir is not None:  # JAMEY_HOME, checked by from_env()
        return config
    state_dir = default_state_dir()
    problem = state_dir_problem(state_dir)
    if problem is not None:
        raise ConfigError(f"the state directory: {problem} (or set {HOME_VAR})")
    return attrs.evolve(config, state_dir=state_dir)


def _quiet_plugin_failures() -> None:
    """Leave plugin failures to the command's own output (one mention each, not two).

    ``jamey plugins`` lists every failure with its reason, and a call of a connector whose
    plugin failed to start says why in its error; the runtime's warning would repeat them.
    """
    plugins_log = logging.getLogger(PLUGINS_LOGGER_NAME)
    if not any(isinstance(handler, logging.NullHandler) for handler in plugins_log.handlers):
        plugins_log.addHandler(logging.NullHandler())
    plugins_log.propagate = False


async def _await(answer: Awaitable[int]) -> int:
    return int(await answer)


def _print_audit_to(stream: TextIO) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("audit: %(message)s"))
    audit_log = logging.getLogger(AUDIT_LOGGER_NAME)
    audit_log.addHandler(handler)
    audit_log.setLevel(logging.INFO)


def run_console() -> None:
    """The ``jamey`` console script: :func:`main` with its status as the exit code."""
    sys.exit(main())
