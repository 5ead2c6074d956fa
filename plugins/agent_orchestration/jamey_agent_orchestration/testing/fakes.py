"""``jamey_fake_agents``: scripted agents at made-up HTTPS URLs, answered through aioresponses.

:class:`FakeAgents` is the fixture's object. :meth:`FakeAgents.add` makes a
:class:`~.fake_agent.FakeAgent` at a URL such as ``https://billing.example.com``;
:meth:`FakeAgents.runtime` starts a runtime holding the agent connector and registers every fake
in it, through ``register_agent`` (an A2A fake's card is fetched, as a real one's is)::

    billing = jamey_fake_agents.add("https://billing.example.com", protocol="a2a")
    billing.fails(503, times=2)
    billing.answers("summarise", json={"total": 42})
    runtime = await jamey_fake_agents.runtime()

What runs is the real connector: params, registry, breakers, retries, audit events, results.
aioresponses takes the place of aiohttp's ``ClientSession._request``, so only what happens under
it is left out: connection pooling, DNS, the socket factory (the address policy at connect time),
TLS and aiohttp's timeout. Nothing is dialled; a request to any other URL goes through as it would
without the fixture. The retry loop's pauses are recorded in :attr:`FakeAgents.pauses` instead
of slept (the retry rules count the pauses asked for, not the time they took), so a test of
retries runs in milliseconds.

aioresponses 0.7.9 builds its responses without the ``stream_writer`` that aiohttp 3.14 requires
(pnuckowski/aioresponses#289); the responses here come from :class:`_ScriptedResponse`, which
supplies it through aioresponses' own ``response_class`` (the default of :attr:`FakeAgents.mock`
too, for the other URLs a test mocks).
"""

from __future__ import annotations

import asyncio
import http
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final, Self, final

import aiohttp
import yarl
from aioresponses import CallbackResult, aioresponses
from multidict import CIMultiDict

from jamey_agent_orchestration.model import AgentProtocol
from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_agent_orchestration.settings import CONNECTOR_ID
from jamey_agent_orchestration.testing.fake_agent import FakeAgent, FakeReply
from jamey_agent_orchestration.testing.server import Handler
from jamey_host import CapabilityLevel, Runtime, RuntimeConfig
from jamey_host.testing import RuntimeFactory

__all__ = ["FakeAgents"]

_AGENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: The methods the connector sends with (its requests are GET or POST).
_METHODS: Final = ("GET", "POST")
_NOT_FOUND: Final = FakeReply(404, b"404: Not Found", "text/plain")


@final
class _SentRequest:
    """What aiohttp reads of a request's writer once the request was sent: its size."""

    output_size = 0


class _ScriptedResponse(aiohttp.ClientResponse):
    """A response built by aioresponses, given the ``stream_writer`` aiohttp 3.14 requires."""

    def __init__(self, method: str, url: yarl.URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentRequest())
        super().__init__(method, url, **kwargs)


@final
class _Responses(aioresponses):
    """aioresponses whose responses get that ``stream_writer`` (unless a class is given)."""

    def add(self, *args: Any, **kwargs: Any) -> None:  # get(), post()... come through here
        kwargs.setdefault("response_class", _ScriptedResponse)
        super().add(*args, **kwargs)


@final
class FakeAgents:
    """The ``jamey_fake_agents`` fixture: fake agents, and runtimes that know them.

    ``runtimes`` is ``jamey_runtime``. :meth:`start` patches aiohttp (aioresponses), :meth:`close`
    closes the runtimes made by :meth:`runtime`, then removes the patch.
    """

    def __init__(self, runtimes: RuntimeFactory) -> None:
        self._runtimes = runtimes
        self._agents: dict[str, FakeAgent] = {}
        self._origins: set[str] = set()
        self._mock: aioresponses | None = None
        self._made: list[Runtime] = []
        #: Every pause the retry loops of :meth:`plugin`'s connectors asked for, in seconds.
        self.pauses: list[float] = []

    # -- the fakes ------------------------------------------------------------------------------

    def add(
        self,
        url: str,
        *,
        protocol: AgentProtocol = "jamey",
        agent_id: str | None = None,
        name: str | None = None,
        skills: Iterable[str] = (),
        api_key: str | None = None,
        handlers: Mapping[str, Handler] | None = None,
        register: bool = True,
    ) -> FakeAgent:
        """A fake agent at ``url`` (``https``; use names that never resolve, ``*.example.com``).

        ``agent_id`` defaults to the first label of the host (``billing``), ``name`` to the
        agent id, ``api_key`` to one made up for it. ``skills``: an A2A card's skill ids (the
        connector makes them the agent's capabilities), a ``jamey`` agent's capabilities.
        ``handlers`` are task handlers as ``jamey_agent_server`` takes them. With
        ``register=False``, :meth:`runtime` leaves the registration to the test.
        """
        if self._mock is None:
            raise RuntimeError("FakeAgents.start() was not called")
        base = _base_url(url)
        agent_id = agent_id or _default_id(base)
        if agent_id in self._agents:
            raise ValueError(f"a fake agent {agent_id!r} exists already; give another agent_id")
        if any(agent.url == base for agent in self._agents.values()):
            raise ValueError(f"a fake agent is at {base} already")
        agent = FakeAgent(
            url=base,
            agent_id=agent_id,
            protocol=protocol,
            name=name or agent_id,
            api_key=api_key or f"fake-key-{agent_id}",
            skills=skills,
            handlers=handlers,
            auto_register=register,
        )
        self._agents[agent_id] = agent
        self._serve(str(base.origin()))
        return agent

    def __getitem__(self, agent_id: str) -> FakeAgent:
        return self._agents[agent_id]

    def __iter__(self) -> Iterator[FakeAgent]:
        return iter(list(self._agents.values()))

    def __len__(self) -> int:
        return len(self._agents)

    @property
    def mock(self) -> aioresponses:
        """The fixture's one ``aioresponses``, for a test that mocks other URLs too
        (``jamey_fake_agents.mock.get(url, payload=...)``): aioresponses cannot patch aiohttp a
        second time while this one is active. Its responses work with aiohttp 3.14 (a callback's
        ``CallbackResult`` needs ``response_class=type(...)`` of one, or aioresponses' fix)."""
        if self._mock is None:
            raise RuntimeError("FakeAgents.start() was not called")
        return self._mock

    # -- runtimes -------------------------------------------------------------------------------

    def plugin(self) -> AgentOrchestrationPlugin:
        """The agent connector whose retry pauses are recorded in :attr:`pauses`, not slept."""
        return AgentOrchestrationPlugin(retry_sleep=self._pause)

    async def runtime(
        self,
        *plugins: object,
        settings: Mapping[str, Mapping[str, str]] | None = None,
        capabilities: Iterable[CapabilityLevel] | None = None,
        config: RuntimeConfig | None = None,
    ) -> Runtime:
        """A started runtime (``jamey_runtime``) holding :meth:`plugin` and ``plugins``, with
        every fake added so far registered in it (except those added with ``register=False``).

        ``settings``, ``capabilities`` and ``config`` are ``jamey_runtime``'s; the runtime is
        closed after the test.
        """
        runtime = await self._runtimes(
            self.plugin(), *plugins, settings=settings, capabilities=capabilities, config=config
        )
        self._made.append(runtime)
        await self.register(runtime, *(agent for agent in self if agent.auto_register))
        return runtime

    async def register(self, runtime: Runtime, *agents: FakeAgent) -> None:
        """Register ``agents`` in ``runtime`` with ``register_agent``, as a host would.

        For a runtime made another way, or a fake added after :meth:`runtime`. Raises
        ``RuntimeError`` with the connector's errors if a registration fails.
        """
        for agent in agents:
            params = {
                "action": "register_agent",
                "agent_id": agent.agent_id,
                "url": str(agent.url),
                "api_key": agent.api_key,
            }
            if agent.protocol == "a2a":
                params["protocol"] = "a2a"  # name and capabilities come from its card
            else:
                params["name"] = agent.name
                if agent.skills:
                    params["capabilities"] = ",".join(agent.skills)
            result = await runtime.execute_connector(CONNECTOR_ID, params)
            if not result.success:
                problems = "; ".join(result.errors)
                raise RuntimeError(
                    f"registering the fake agent {agent.agent_id!r} failed: {problems}"
                )

    async def _pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await asyncio.sleep(0)  # a pause still lets other tasks run

    # -- aioresponses ---------------------------------------------------------------------------

    def start(self) -> None:
        """Answer requests to the fakes' URLs from now on; any other URL is let through."""
        if self._mock is None:
            self._mock = _Responses(passthrough_unmatched=True)
            self._mock.start()

    async def close(self) -> None:
        """Close the runtimes :meth:`runtime` made (a runtime's last requests still reach its
        fakes, not the network), then let aiohttp be."""
        try:
            for runtime in reversed(self._made):
                await runtime.close()
        finally:
            mock, self._mock = self._mock, None
            if mock is not None:
                mock.stop()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _serve(self, origin: str) -> None:
        """Take every request to ``origin`` (once per origin; the fakes there share it)."""
        if origin in self._origins:
            return
        assert self._mock is not None
        self._origins.add(origin)
        pattern = re.compile(re.escape(origin) + r"(?:[/?#]|$)")
        for method in _METHODS:
            self._mock.add(pattern, method=method, callback=self._answerer(method), repeat=True)

    def _answerer(self, method: str) -> Callable[..., Awaitable[CallbackResult]]:
        async def answer(url: yarl.URL, **request: Any) -> CallbackResult:
            headers: CIMultiDict[str] = CIMultiDict(request.get("headers") or {})
            agent = self._agent_at(url)
            if agent is None:
                reply = _NOT_FOUND
            else:
                reply = await agent.answer(method, url, headers, _body(request))
            return CallbackResult(
                method=method,
                status=reply.status,
                body=reply.body,
                content_type=reply.content_type,
                headers={**reply.headers, "Content-Length": str(len(reply.body))},
                response_class=_ScriptedResponse,
                reason=_reason(reply.status),
            )

        return answer

    def _agent_at(self, url: yarl.URL) -> FakeAgent | None:
        """The fake whose URL is the longest prefix of ``url`` (fakes may share an origin)."""
        found: FakeAgent | None = None
        for agent in self._agents.values():
            base = agent.url
            if base.origin() != url.origin():
                continue
            prefix = base.path.rstrip("/")
            if url.path != prefix and not url.path.startswith(prefix + "/"):
                continue
            if found is None or len(prefix) > len(found.url.path.rstrip("/")):
                found = agent
        return found


def _base_url(url: str) -> yarl.URL:
    parsed = yarl.URL(url)
    if parsed.scheme != "https" or not parsed.host:
        raise ValueError(f"a fake agent's URL is https with a host, got {url!r}")
    # The connector keeps a registered URL without its trailing slash: so does the fake.
    return parsed.with_path(parsed.raw_path.rstrip("/"), encoded=True)


def _default_id(url: yarl.URL) -> str:
    label = (url.host or "").split(".")[0]
    if not _AGENT_ID.fullmatch(label):
        raise ValueError(f"give the fake agent at {url} an agent_id")
    return label


def _body(request: Mapping[str, Any]) -> bytes | None:
    data = request.get("data")
    if data is None and request.get("json") is not None:
        data = json.dumps(request["json"])
    if isinstance(data, str):
        return data.encode()
    return bytes(data) if isinstance(data, bytes | bytearray) else None


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
