"""``jamey demo``: the agent connector end to end, offline, with nothing to set up.

Three reference agents start on 127.0.0.1 with certificates from a throwaway CA, and a fourth
that speaks A2A (the reference agent in A2A mode), registered from its agent card. A real
:class:`~jamey_host.Runtime` loads the ``agent_orchestration`` plugin through its installed entry
point and every step goes through ``execute_connector``, exactly as a host application would
call it. Nothing leaves the machine: the refused addresses are refused before any connection.

Heavy imports (aiohttp, trustme, the reference server) happen inside :func:`run_demo`, so
``jamey --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from jamey_host import AuditEvent, CliCommand, hookimpl

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing.agents import RecordingAgent, ThrowawayCA
    from jamey_agent_orchestration.testing.server import JSON, TaskRequest
    from jamey_host import ConnectorResult, PluginInfo, Runtime

__all__ = ["DEMO_COMMAND", "run_demo"]

CONNECTOR: Final = "agent_orchestration"
ALLOWED: Final = "127.0.0.0/8"
USER: Final = "demo"
SESSION: Final = "demo-session"

DOCUMENT: Final = (
    "Jamey hosts connectors as plugins. This one delegates tasks to remote agents "
    "over verified HTTPS, and refuses anything it cannot verify."
)
GREETING: Final = "good morning, agents"

# id and capabilities; each agent also answers the built-in health_check.
AGENTS: Final = (
    ("summarizer", "text,summarize"),
    ("translator", "text,translate"),
    ("archivist", "archive"),
)
DOWN: Final = "archivist"
#: The agent that speaks A2A: its name and capabilities come from its agent card.
A2A_AGENT: Final = "researcher"
TOPIC: Final = "agent protocols"


class DemoError(Exception):
    """A step did not go as the demo expects; the message is one line for the user."""


# -- the agents' task handlers --------------------------------------------------------------


def _summarize(request: TaskRequest) -> JSON:
    words = request.params.get("text", "").split()
    return {
        "words": len(words),
        "summary": " ".join(words[:5]) + (" ..." if len(words) > 5 else ""),
    }


def _translate(request: TaskRequest) -> JSON:
    # The reference "translation": into shouting.
    return {"lang": request.params.get("to", "shout"), "text": request.params["text"].upper()}


def _archive(request: TaskRequest) -> JSON:
    return {"stored": True, "bytes": len(request.params.get("text", "").encode())}


def _research(request: TaskRequest) -> JSON:
    topic = request.params.get("topic", "")
    return {"topic": topic, "finding": f"{topic} work best with verified TLS"}


# -- the screen -----------------------------------------------------------------------------


def _use_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _encodes(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class _Screen:
    """Aligned, optionally coloured output; remembers what it printed (for the secrets check)."""

    _CODES: Final = {"bold": "1", "dim": "2", "green": "32", "red": "31", "yellow": "33"}

    def __init__(self, stream: TextIO, *, color: bool) -> None:
        self.stream = stream
        self.color = color
        fancy = _encodes(stream, "✓✗·")
        self.ok = "✓" if fancy else "+"
        self.bad = "✗" if fancy else "x"
        self.dot = "·" if fancy else "-"
        self.printed: list[str] = []

    def paint(self, text: str, style: str) -> str:
        if not self.color or not text:
            return text
        return f"\033[{self._CODES[style]}m{text}\033[0m"

    def print(self, line: str = "") -> None:
        self.printed.append(line)
        print(line, file=self.stream, flush=True)

    def heading(self, title: str, note: str = "") -> None:
        self.print()
        suffix = f" {self.paint(f'{self.dot} {note}', 'dim')}" if note else ""
        self.print(self.paint(title, "bold") + suffix)

    def rows(self, rows: Sequence[tuple[str, str, str]], indent: str = "  ") -> None:
        """``(mark, label, text)`` rows, the labels padded to one width."""
        width = max((len(label) for _, label, _ in rows), default=0)
        for mark, label, text in rows:
            mark_text = {
                "ok": self.paint(self.ok, "green"),
                "fail": self.paint(self.bad, "red"),
                "refused": self.paint(self.bad, "yellow"),
            }.get(mark, mark)
            prefix = f"{mark_text} " if mark else ""
            self.print(f"{indent}{prefix}{label.ljust(width)}  {text}".rstrip())

    def outcome(self, outcome: str) -> str:
        style = {"success": "green", "failure": "red", "denied": "yellow", "warning": "yellow"}
        return self.paint(outcome, style.get(outcome, "dim"))


def _brief(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _task_summary(answer: Any) -> str:
    """An A2A Task in one line: its state, and the data of its artifact if it has one."""
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict):  # a jamey agent's answer, or an error
        return json.dumps(answer)
    state = str(status.get("state", "?")).removeprefix("TASK_STATE_")
    for artifact in answer.get("artifacts", []):
        for part in artifact.get("parts", []):
            if "data" in part:
                return f"task {state}: {json.dumps(part['data'])}"
    return f"task {state}"


# -- the audit sink -------------------------------------------------------------------------


class DemoAuditTrail:
    """A plugin with one ``audit_event`` hook: keeps every event of the demo's runtime."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    @hookimpl
    def audit_event(self, event: AuditEvent) -> None:
        self.events.append(event)


def _event_agent(event: AuditEvent) -> str:
    """The agent an event is about: its id, ``N agents`` for a broadcast, else ``-``."""
    d = event.details
    params = d.get("params", {})
    contacted = d.get("agents_contacted", [])
    if "agent_id" in d:
        return str(d["agent_id"])
    if isinstance(params, Mapping) and "agent_id" in params:
        return str(params["agent_id"])
    if len(contacted) == 1:
        return str(contacted[0])
    if event.event == "agent.broadcast" or len(contacted) > 1:
        count = d.get("agents", len(contacted))
        return f"{count} agents"
    return "-"


def _attempts(count: object) -> str:
    return f"{count} attempt{'' if count == 1 else 's'}"


def _event_detail(event: AuditEvent) -> str:
    """A short description of an event, built from its (already redacted) fields."""
    d = event.details
    if event.event == "connector.execute":
        params = d.get("params", {})
        shown = [f"{k}={params[k]}" for k in ("capability", "task") if k in params]
        if "attempts" in d:  # what a send_task's delivery did, annotated on this event
            shown.append(
                _attempts(d["attempts"]) + (f", status {d['status']}" if d.get("status") else "")
            )
        return " ".join([event.action or "-", *shown, f"{d.get('duration_ms', 0):.1f} ms"])
    if event.event == "agent_orchestration.allow_networks":
        return "exempt from the address ban: " + ", ".join(d.get("networks", []))
    parts: list[str] = []
    if event.event == "agent.registered":
        parts.append(f"{d.get('origin', '')} [{','.join(d.get('capabilities', []))}]")
        if d.get("protocol") == "a2a":
            parts[-1] += f" A2A {d.get('binding', '')}".rstrip()
    elif event.event in ("agent.task_sent", "agent.task_failed"):
        parts.append(f"{d.get('task')} {_attempts(d.get('attempts'))}")
        if d.get("status"):
            parts.append(f"status {d['status']}")
    elif event.event == "agent.broadcast":
        parts.append(f"{d.get('task')} succeeded={d.get('succeeded')} failed={d.get('failed')}")
    detail = ", ".join(parts)
    if event.error:
        reason = event.error.removeprefix("Security violation: ")
        reason = reason.removeprefix("Failed to send task to agent: ")
        detail = f"{detail}: {_brief(reason, 60)}" if detail else _brief(reason, 60)
    return detail


# -- the demonstration ----------------------------------------------------------------------


class _Demo:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.calls = 0
        self.succeeded = 0
        self.refused = 0
        self.contacted: dict[str, None] = {}

    async def call(self, **params: str) -> ConnectorResult:
        self.calls += 1
        result = await self.runtime.execute_connector(
            CONNECTOR, params, user_id=USER, session_id=SESSION
        )
        if result.success:
            self.succeeded += 1
        self.contacted.update(dict.fromkeys(result.agents_contacted))
        return result

    async def expect_ok(self, what: str, **params: str) -> ConnectorResult:
        result = await self.call(**params)
        if not result.success:
            raise DemoError(f"{what} failed: {'; '.join(result.errors)}")
        return result

    async def expect_refused(self, agent_id: str, url: str) -> str:
        result = await self.call(
            action="register_agent",
            agent_id=agent_id,
            name=agent_id,
            url=url,
            api_key="not-a-real-key",
        )
        if result.success or not result.errors[0].startswith("Security violation:"):
            raise DemoError(f"registering {url} was not refused as it should be")
        self.refused += 1
        return result.errors[0]


async def _start_agents(ca: ThrowawayCA) -> dict[str, RecordingAgent]:
    from jamey_agent_orchestration.testing.agents import start_test_agent

    handlers = {
        "summarizer": {"summarize": _summarize},
        "translator": {"translate": _translate},
        "archivist": {"archive": _archive},
    }
    agents: dict[str, RecordingAgent] = {}
    try:
        for agent_id, _ in AGENTS:
            agents[agent_id] = await start_test_agent(
                ca, name=agent_id, handlers=handlers[agent_id]
            )
        agents[A2A_AGENT] = await start_test_agent(
            ca, name="Researcher", handlers={"research": _research}, protocol="a2a"
        )
    except BaseException:
        for agent in agents.values():
            await agent.close()
        raise
    return agents


async def _demonstrate(
    runtime: Runtime, agents: Mapping[str, RecordingAgent], screen: _Screen
) -> _Demo:
    demo = _Demo(runtime)
    ok, fail, refused = "ok", "fail", "refused"

    screen.heading("1  Register four agents", "register_agent, over execute_connector")
    rows = []
    for agent_id, capabilities in AGENTS:
        result = await demo.expect_ok(
            f"registering {agent_id}",
            action="register_agent",
            agent_id=agent_id,
            name=agent_id.capitalize(),
            url=agents[agent_id].url,
            api_key=agents[agent_id].api_key,
            capabilities=capabilities,
        )
        rows.append((ok, agent_id, f"{result.output}  [{capabilities}]"))
    result = await demo.expect_ok(
        f"registering {A2A_AGENT} from its agent card",
        action="register_agent",
        agent_id=A2A_AGENT,
        url=agents[A2A_AGENT].url,
        api_key=agents[A2A_AGENT].api_key,
        protocol="a2a",
    )
    [listed] = [
        a
        for a in (await demo.expect_ok("list", action="list_agents")).json()
        if a["id"] == A2A_AGENT
    ]
    card = f"{listed['name']!r} [{','.join(listed['capabilities'])}]"
    rows.append((ok, A2A_AGENT, f"{result.output}  {card}"))
    screen.rows(rows)
    screen.print(
        "  "
        + screen.paint(
            f"{A2A_AGENT} speaks A2A: its name and capabilities come from its agent card", "dim"
        )
    )

    screen.heading("2  Send a task", "send_task agent_id=summarizer task=summarize")
    result = await demo.expect_ok(
        "the summarize task",
        action="send_task",
        agent_id="summarizer",
        task="summarize",
        param_text=DOCUMENT,
    )
    screen.rows([(ok, "summarizer", _brief(result.json()))])

    screen.heading("3  Route by capability", "send_task capability=translate task=translate")
    result = await demo.expect_ok(
        "routing by capability",
        action="send_task",
        capability="translate",
        task="translate",
        param_text=GREETING,
    )
    routed = result.agents_contacted[0] if result.agents_contacted else "?"
    screen.rows([(ok, routed, _brief(result.json()))])
    screen.print("  " + screen.paint(f"routed to {routed}, the agent offering translate", "dim"))

    screen.heading(
        "4  Send a task to an A2A agent", f"send_task agent_id={A2A_AGENT} task=research"
    )
    result = await demo.expect_ok(
        "the research task",
        action="send_task",
        agent_id=A2A_AGENT,
        task="research",
        param_topic=TOPIC,
    )
    screen.rows([(ok, A2A_AGENT, _brief(_task_summary(result.json())))])

    screen.heading(
        "5  A long A2A task: started, polled, cancelled",
        "send_task wait=false, get_task, cancel_task",
    )
    started = await demo.expect_ok(
        "starting the long task",
        action="send_task",
        agent_id=A2A_AGENT,
        task="long_task",
        wait="false",
    )
    task_id = started.metadata["task_id"]
    polled = await demo.expect_ok(
        "polling the long task", action="get_task", agent_id=A2A_AGENT, task_id=task_id
    )
    cancelled = await demo.expect_ok(
        "cancelling the long task", action="cancel_task", agent_id=A2A_AGENT, task_id=task_id
    )
    screen.rows(
        [
            (
                ok,
                "send_task",
                f"wait=false: task {started.metadata['state'].removeprefix('TASK_STATE_')}",
            ),
            (ok, "get_task", f"task {polled.metadata['state'].removeprefix('TASK_STATE_')}"),
            (ok, "cancel_task", f"task {cancelled.metadata['state'].removeprefix('TASK_STATE_')}"),
        ]
    )

    await agents[DOWN].close()
    screen.heading(
        f"6  Broadcast health_check to both protocols, {DOWN} stopped",
        "broadcast task=health_check",
    )
    result = await demo.expect_ok("the broadcast", action="broadcast", task="health_check")
    answers = result.json()
    if not isinstance(answers, dict):
        raise DemoError("the broadcast did not answer a JSON object")
    screen.rows(
        [
            (
                fail if isinstance(a, dict) and "error" in a else ok,
                agent_id,
                _brief(_task_summary(a), 90),
            )
            for agent_id, a in answers.items()
        ]
    )
    succeeded, failed = result.metadata.get("succeeded"), result.metadata.get("failed")
    screen.print(
        "  "
        + screen.paint(
            f"succeeded={succeeded} failed={failed}; the broadcast itself succeeds", "dim"
        )
    )
    if failed != "1":
        raise DemoError(f"the broadcast should have failed for {DOWN} only, failed={failed}")

    screen.heading(
        "7  Refuse unsafe agents", "register_agent, checked before any connection is made"
    )
    targets = [
        ("plain-http", agents["summarizer"].url.replace("https://", "http://", 1)),
        ("internal", "https://10.0.0.5"),
        ("cloud-metadata", "https://169.254.169.254"),
    ]
    screen.rows(
        [(refused, url, await demo.expect_refused(agent_id, url)) for agent_id, url in targets]
    )
    return demo


def _summary(demo: _Demo, screen: _Screen, elapsed: float, leaked: bool) -> None:
    screen.heading("Summary")
    failed = demo.calls - demo.succeeded - demo.refused
    counts = f"{demo.succeeded} succeeded, {demo.refused} refused" + (
        f", {failed} failed" if failed else ""
    )
    calls = f"{demo.calls} through execute_connector: {counts}"
    screen.rows(
        [
            ("", "calls", calls),
            ("", "agents contacted", ", ".join(demo.contacted) or "none"),
            (
                "",
                "API keys leaked",
                "FOUND in the output" if leaked else "none (searched this output and the trail)",
            ),
            ("", "elapsed", f"{elapsed:.2f} s"),
        ]
    )


def _audit_table(events: Sequence[AuditEvent], screen: _Screen, started: float) -> None:
    screen.heading("Audit trail", f"{len(events)} events, as every audit_event hook received them")
    rows = [
        (
            f"+{max(0.0, e.timestamp.timestamp() - started):.3f}s",
            e.event,
            e.outcome,
            _event_agent(e),
            _event_detail(e),
        )
        for e in events
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(4)]
    for when, name, outcome, agent, detail in rows:
        pad = " " * (widths[2] - len(outcome))
        line = (
            f"  {when.rjust(widths[0])}  {name.ljust(widths[1])}  "
            f"{screen.outcome(outcome)}{pad}  {agent.ljust(widths[3])}  {detail}"
        )
        screen.print(line.rstrip())


async def run_demo(
    *, color: bool | None = None, audit_log: TextIO | None = None, stream: TextIO | None = None
) -> int:
    """Run the demonstration, printing to ``stream`` (default stdout); return the exit status.

    ``color=None`` colours only a terminal, and never when ``NO_COLOR`` is set. The audit trail
    is also written to ``audit_log``, one JSON event per line, if given.
    """
    out = stream if stream is not None else sys.stdout
    screen = _Screen(out, color=_use_color(out) if color is None else color)
    try:
        return await _run(screen, audit_log)
    except BrokenPipeError:  # the reader went away (``jamey demo | head``): stop quietly
        if stream is None:
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except DemoError as exc:
        print(f"jamey demo: error: {exc}", file=sys.stderr)
    except Exception as exc:
        print(f"jamey demo: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


async def _run(screen: _Screen, audit_log: TextIO | None) -> int:
    from jamey_agent_orchestration.testing.agents import ThrowawayCA
    from jamey_host import Runtime, RuntimeConfig

    started_wall, started = time.time(), time.perf_counter()
    trail = DemoAuditTrail()
    with ThrowawayCA() as ca:
        agents = await _start_agents(ca)
        try:
            screen.print(
                screen.paint("jamey demo", "bold")
                + f" {screen.dot} four reference agents on this machine (one speaks A2A), "
                "verified TLS, no network"
            )
            config = RuntimeConfig(
                load_plugins={CONNECTOR},
                connector_settings={
                    CONNECTOR: {
                        "ca_bundle": str(ca.ca_path),
                        "allow_networks": ALLOWED,
                        "timeout": "2",
                        "retries": "2",
                    }
                },
            )
            async with Runtime(config, plugins=[trail], load_entrypoints=True) as runtime:
                plugin = _loaded_plugin(runtime)
                _setup(screen, plugin, agents)
                demo = await _demonstrate(runtime, agents, screen)
        finally:
            for agent in agents.values():
                await agent.close()
    elapsed = time.perf_counter() - started
    keys = [agent.api_key for agent in agents.values()]
    trail_text = [event.to_json() for event in trail.events]
    leaked = any(key in text for key in keys for text in [*screen.printed, *trail_text])
    _summary(demo, screen, elapsed, leaked)
    _audit_table(trail.events, screen, started_wall)
    if audit_log is not None:
        audit_log.writelines(f"{line}\n" for line in trail_text)
        audit_log.flush()
        name = getattr(audit_log, "name", "the audit log")
        screen.print()
        screen.print(f"Audit trail written to {name} (JSON, one event per line)")
    if leaked:
        raise DemoError("an API key appeared in the output or the audit trail")
    return 0


def _loaded_plugin(runtime: Runtime) -> PluginInfo:
    for info in runtime.plugins():
        if info.name == CONNECTOR and info.status == "active":
            return info
        if info.name == CONNECTOR:
            raise DemoError(f"the {CONNECTOR} plugin is {info.status}: {info.error}")
    raise DemoError(f"the {CONNECTOR} plugin is not installed (entry point group jamey_host)")


def _setup(screen: _Screen, plugin: PluginInfo, agents: Mapping[str, RecordingAgent]) -> None:
    screen.heading("Setup")
    version = f" {plugin.version}" if plugin.version else ""
    rows = [
        ("", "plugin", f"{plugin.name}{version}, loaded from its installed entry point"),
        ("", "trust", "a throwaway CA, added to the default store through ca_bundle"),
        ("", "allow_networks", f"{ALLOWED}: loopback is refused by default, like every"),
        ("", "", "private address; exempted here for the local agents (audited as a warning)"),
    ]
    ids = [agent_id for agent_id, _ in AGENTS] + [A2A_AGENT]
    width = max(len(agent_id) for agent_id in ids)
    rows += [
        ("", "agents" if i == 0 else "", f"{agent_id.ljust(width)}  {agents[agent_id].url}")
        for i, agent_id in enumerate(ids)
    ]
    rows[-1] = (*rows[-1][:2], f"{rows[-1][2]}  (A2A)")
    screen.rows(rows)


# -- the subcommand -------------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-color",
        action="store_true",
        help="plain text, no ANSI colours (also when NO_COLOR is set or stdout is not a terminal)",
    )
    parser.add_argument(
        "--audit-log",
        metavar="FILE",
        type=Path,
        help="also write the audit trail to FILE, one JSON event per line",
    )


def _run_command(args: argparse.Namespace) -> int:
    color = False if args.no_color else None
    path: Path | None = args.audit_log
    if path is None:
        return asyncio.run(run_demo(color=color))
    try:  # opened first, so a bad path fails at once, not after the demo
        audit_log = path.open("w", encoding="utf-8")
    except OSError as exc:
        print(f"jamey demo: error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    with audit_log:
        return asyncio.run(run_demo(color=color, audit_log=audit_log))


DEMO_COMMAND: Final = CliCommand(
    help="show the agent connector end to end: four local agents, no network, no setup",
    description=(
        "Start four reference agents on 127.0.0.1 with a throwaway CA, one of them speaking "
        "A2A, then register them (the A2A one from its agent card), send a task, route one by "
        "capability, send a task to the A2A agent, start a long A2A task without waiting, poll "
        "and cancel it, broadcast a health check to both protocols while one agent is down, and "
        "show three refused registrations, all through the jamey runtime. Needs no network and "
        "no configuration; takes a second or two."
    ),
    run=_run_command,
    configure=_configure,
)
