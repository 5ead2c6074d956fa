"""What the canary tests share: the canary, the loggers watched, and where a leak could hide."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from jamey_agent_orchestration.testing.server import TaskRequest
from jamey_host import AuditEvent, ConnectorResult

if TYPE_CHECKING:
    from otel_setup import OtelCapture

    from ..connector import Connector

CANARY = "CANARY-7f3a9c-SECRET"
REBOUND_HOST = "canary.example.test"
LOGGERS = ("", "jamey_host", "jamey_host.audit", "jamey_agent_orchestration", "aiohttp", "asyncio")


def echo(request: TaskRequest) -> dict[str, Any]:
    return {"task": request.task, "params": dict(request.params)}


def texts_of_record(record: logging.LogRecord) -> list[str]:
    texts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info and record.exc_info[1] is not None:
        texts += [
            logging.Formatter().formatException(record.exc_info),
            repr(record.exc_info[1]),
            str(record.exc_info[1]),
        ]
    if record.exc_text:
        texts.append(record.exc_text)
    if record.stack_info:
        texts.append(record.stack_info)
    return texts


def watch_at_debug(caplog: pytest.LogCaptureFixture, loggers: Iterable[str] = LOGGERS) -> None:
    """Capture every record of ``loggers`` (``""``: the root), down to DEBUG."""
    for name in loggers:
        caplog.set_level(logging.DEBUG, logger=name or None)


@contextlib.contextmanager
def loop_errors_kept() -> Iterator[list[dict[str, Any]]]:
    """The running loop's unhandled-error contexts, kept (not logged) while in the block."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        yield errors
    finally:
        loop.set_exception_handler(previous_handler)


class Calls:
    """Runs connector calls, keeping every result and any exception raised."""

    def __init__(self) -> None:
        self.results: list[ConnectorResult] = []
        self.exceptions: list[BaseException] = []

    async def run(self, connector: Connector, action: str, **params: str) -> ConnectorResult:
        try:
            result = await connector.call(action, **params)
        except Exception as exc:  # there should be none: the runtime never raises
            self.exceptions.append(exc)
            raise
        self.results.append(result)
        return result

    async def register(
        self, connector: Connector, agent_id: str, url: str, **extra: str
    ) -> ConnectorResult:
        return await self.run(
            connector,
            "register_agent",
            agent_id=agent_id,
            name=f"Agent {agent_id}",
            url=url,
            api_key=CANARY,
            **extra,
        )


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            infos = await real("127.0.0.1", port, *args, **kwargs)
            return [info for info in infos if info[0] == socket.AF_INET]
        return await real(name, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


async def reprs_of(connector: Connector) -> list[str]:
    plugin = connector.plugin
    agents = await plugin.store.list()
    texts = [repr(plugin), str(plugin), repr(plugin.store), repr(agents), repr(plugin.settings)]
    texts += [repr(vars(plugin)), repr(getattr(plugin.store, "__dict__", {}))]
    for agent in agents:
        texts += [repr(agent), str(agent), repr(attrs.asdict(agent)), repr(agent.api_key)]
        texts.append(str(agent.api_key))
        texts.append(f"{agent.api_key}")
    texts.append((await connector.call("list_agents")).output)
    return texts


def assert_nothing_leaked(
    caplog: pytest.LogCaptureFixture,
    events: Sequence[AuditEvent],
    calls: Calls,
    reprs: Sequence[str],
    loop_errors: Sequence[dict[str, Any]],
) -> None:
    """The canary is in no exception, loop error, log record, audit event, result or repr."""
    assert calls.exceptions == []
    assert [str(context) for context in loop_errors if CANARY in repr(context)] == []
    leaks_in_logs = [
        (record.name, record.levelname, text)
        for record in caplog.records
        for text in texts_of_record(record)
        if CANARY in text
    ]
    assert leaks_in_logs == []
    leaks_in_events = [event.event for event in events if CANARY in event.to_json()]
    assert leaks_in_events == []
    audit_lines = [r for r in caplog.records if r.name == "jamey_host.audit"]
    assert [line.getMessage() for line in audit_lines if CANARY in line.getMessage()] == []
    leaks_in_results = [
        result.to_dict()
        for result in calls.results
        if CANARY in json.dumps(result.to_dict()) or CANARY in repr(result)
    ]
    assert leaks_in_results == []
    assert [text for text in reprs if CANARY in text] == []


def assert_not_in_telemetry(otel: OtelCapture, *canaries: str, spans: Sequence[str]) -> None:
    """No canary in anything the in-memory span exporter and metric reader received (contract
    section 9), which did receive ``spans`` (so the scan is not of nothing)."""
    names = set(otel.span_names())
    assert set(spans) <= names, set(spans) - names
    leaks = [
        (canary, text[:200]) for text in otel.everything() for canary in canaries if canary in text
    ]
    assert leaks == []
