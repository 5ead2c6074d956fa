"""The ``agent_orchestration`` connector: the jamey-host plugin and its five actions."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yarl

from jamey_agent_orchestration.address_policy import validate_agent_url
from jamey_agent_orchestration.agents import Agent
from jamey_agent_orchestration.api_key import ApiKey
from jamey_agent_orchestration.breaker import Breakers, BreakerState, BreakerTransition
from jamey_agent_orchestration.errors import SecurityViolation
from jamey_agent_orchestration.keys import RegistryError
from jamey_agent_orchestration.registry import AgentStore, AuditFn, MemoryAgentStore, open_store
from jamey_agent_orchestration.requests import (
    InvalidParams,
    check_agent_id,
    parse_broadcast,
    parse_register,
    parse_send,
    parse_unregister,
)
from jamey_agent_orchestration.retries import FailureKind
from jamey_agent_orchestration.settings import CONNECTOR_ID, AgentSettings
from jamey_agent_orchestration.transport import AgentTransport, Delivery
from jamey_host import (
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    Runtime,
    hookimpl,
)

ACTIONS: Final = ("register_agent", "send_task", "broadcast", "list_agents", "unregister_agent")
HEALTH_CHECK_TASK: Final = "health_check"

SPEC: Final = ConnectorSpec(
    id=CONNECTOR_ID,
    name="Agent orchestration",
    version="0.1.0",
    description="Delegates tasks to remote AI agents over verified HTTPS",
    capability_level=CapabilityLevel.AGENT_ORCHESTRATION,
    requires_approval=False,
    actions=ACTIONS,
)

# The audit event of a refused call, by action: registrations share one name whatever refused them.
_REFUSED_EVENT: Final = {"register_agent": "agent.register_refused"}


def _contacted(delivery: Delivery) -> bool:
    # An address refused by policy, or an open circuit, means nothing was sent to that agent.
    return delivery.attempts > 0 and delivery.failure is not FailureKind.SECURITY


class AgentOrchestrationPlugin:
    """One instance per runtime: its registry, settings and HTTPS session belong to that runtime."""

    def __init__(self) -> None:
        self.settings = AgentSettings()
        self.store: AgentStore = MemoryAgentStore()
        self.breakers = Breakers()
        self._transport: AgentTransport | None = None
        self._health_task: asyncio.Task[None] | None = None

    # -- hooks -----------------------------------------------------------------------------

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [SPEC]

    @hookimpl
    async def runtime_startup(self, runtime: Runtime) -> None:
        audit: AuditFn = functools.partial(runtime.audit, connector=CONNECTOR_ID)
        self.settings = AgentSettings.from_mapping(runtime.settings_for(CONNECTOR_ID))
        self.breakers = Breakers(
            self.settings.breaker_threshold,
            self.settings.breaker_cooldown,
            on_change=functools.partial(_audit_transition, audit),
        )
        try:
            await self._open(runtime.config.state_dir, audit)
        except BaseException:
            await self.runtime_shutdown()  # the runtime never shuts down a plugin that failed
            raise
        if self.settings.allow_networks:
            audit(
                "agent_orchestration.allow_networks",
                outcome="warning",
                networks=[str(network) for network in self.settings.allow_networks],
                message="these networks are exempt from the private-address ban",
            )
        if self.settings.health_interval is not None:
            self._health_task = asyncio.create_task(
                self._check_health_every(self.settings.health_interval, audit)
            )

    async def _open(self, state_dir: Path | None, audit: AuditFn) -> None:
        store, created_key_file = await asyncio.to_thread(open_store, self.settings, state_dir)
        if created_key_file is not None:
            audit(
                "agent_orchestration.key_file_created",
                outcome="warning",
                path=str(created_key_file),
                message="master key for API keys at rest created; back it up, or set "
                "JAMEY_SECRET_KEY",
            )
        self.store = store
        await store.open()
        self._transport = AgentTransport(self.settings)
        await self._transport.start()

    @hookimpl
    async def runtime_shutdown(self) -> None:
        health, self._health_task = self._health_task, None
        if health is not None:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
        transport, self._transport = self._transport, None
        try:
            if transport is not None:
                await transport.close()
        finally:
            await self.store.close()

    @hookimpl
    async def execute_connector(
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        # ``name`` is always this plugin's one connector; taking every argument of the hookspec
        # lets the runtime call this coroutine function as it is, without an adapter.
        action = params.get("action")
        if not action:
            return ConnectorResult.fail("Missing 'action' parameter")
        try:
            if action == "register_agent":
                return await self._register(params, context)
            if action == "send_task":
                return await self._send(params, context)
            if action == "broadcast":
                return await self._broadcast(params, context)
            if action == "list_agents":
                return await self._list()
            if action == "unregister_agent":
                return await self._unregister(params, context)
        except InvalidParams as exc:
            message = str(exc)
            context.audit(
                _REFUSED_EVENT.get(action, f"agent.{action}_refused"),
                outcome="denied" if message.startswith("Security violation:") else "failure",
                agent_id=params.get("agent_id") or None,
                error=message,
            )
            return ConnectorResult.fail(message)
        except RegistryError as exc:
            context.audit("agent.registry_error", outcome="failure", error=str(exc))
            return ConnectorResult.fail(str(exc))
        return ConnectorResult.fail(f"Unknown action: {action}")

    # -- actions ---------------------------------------------------------------------------

    async def _register(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_register(params)
        try:
            # The guide's order: the URL (HTTPS, address policy) first, then the key.
            url = validate_agent_url(request.url, self.settings.allow_networks)
            api_key = ApiKey(request.api_key)
        except (SecurityViolation, ValueError) as exc:
            raise InvalidParams(str(exc)) from None
        agent = Agent(
            id=request.agent_id,
            name=request.name,
            url=str(url),
            api_key=api_key,
            capabilities=request.capabilities,
        )
        if request.replace:
            replaced = await self.store.replace(agent)
            self.breakers.forget(agent.id)  # a new address or key deserves a fresh start
        elif await self.store.insert(agent):
            replaced = False
        else:
            message = f"Agent already registered: {agent.id}"
            context.audit(
                "agent.register_refused", outcome="failure", agent_id=agent.id, error=message
            )
            return ConnectorResult.fail(message)
        context.audit(
            "agent.registered",
            outcome="success",
            agent_id=agent.id,
            origin=agent.origin(),
            capabilities=list(agent.capabilities),
            replaced=replaced,
        )
        return ConnectorResult.ok("Agent registered successfully", metadata={"agent_id": agent.id})

    async def _unregister(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_unregister(params)
        if not await self.store.delete(request.agent_id):
            return ConnectorResult.fail(f"Agent not found: {request.agent_id}")
        self.breakers.forget(request.agent_id)
        context.audit("agent.unregistered", outcome="success", agent_id=request.agent_id)
        return ConnectorResult.ok("Agent unregistered successfully")

    async def _list(self) -> ConnectorResult:
        agents = await self.store.list()
        return ConnectorResult.ok(
            json.dumps([self._listing(agent) for agent in agents]),
            metadata={"count": str(len(agents))},
        )

    def _listing(self, agent: Agent) -> dict[str, Any]:
        # An agent whose circuit is closed is listed with the contract's four fields; "health"
        # appears while its circuit is open or half-open.
        shown = agent.public()
        if self.breakers.state(agent.id) is not BreakerState.CLOSED:
            shown["health"] = self.breakers.health(agent.id)
        return shown

    async def _send(self, params: Mapping[str, str], context: ExecutionContext) -> ConnectorResult:
        request = parse_send(params)
        if request.agent_id is not None:
            agent = await self.store.get(request.agent_id)
            if agent is None:
                check_agent_id(request.agent_id)  # a malformed id is named as such
                return ConnectorResult.fail(f"Agent not found: {request.agent_id}")
        else:
            assert request.capability is not None
            agent = await self._route(request.capability)
            if agent is None:
                return ConnectorResult.fail(
                    f"No available agent offers capability: {request.capability}"
                )
        # The delivery is described on the call's own connector.execute event (one line in the
        # trail per send_task); a broadcast, with many deliveries, audits each one separately.
        delivery = await self._deliver(agent, request.task, request.params, None)
        if context.auditing:
            context.annotate(
                agent_id=agent.id,
                origin=agent.origin(),
                status=delivery.status,
                attempts=delivery.attempts,
            )
        metadata = {"agent_id": agent.id, "attempts": str(delivery.attempts)}
        if delivery.status is not None:
            metadata["status"] = str(delivery.status)
        contacted = [agent.id] if _contacted(delivery) else []
        if not delivery.ok:
            assert delivery.error is not None
            return ConnectorResult.fail(
                delivery.error, agents_contacted=contacted, metadata=metadata
            )
        # The agent's own JSON text: valid (the transport parsed it), and not encoded twice.
        output = delivery.text if delivery.text is not None else json.dumps(delivery.response)
        return ConnectorResult.ok(output, agents_contacted=contacted, metadata=metadata)

    async def _route(self, capability: str) -> Agent | None:
        """The next agent offering ``capability`` whose circuit is not open."""
        # An agent whose cooldown is over is not "unavailable": routing to it makes the probe.
        return await self.store.next_for_capability(capability, exclude=self.breakers.unavailable())

    async def _broadcast(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_broadcast(params)
        agents = await self.store.list()
        if request.capability is not None:
            agents = [agent for agent in agents if agent.offers(request.capability)]
        started = time.perf_counter()
        deliveries = await self._deliver_all(
            agents, request.task, request.params, _auditor(context)
        )
        contacted = [
            agent.id
            for agent, delivery in zip(agents, deliveries, strict=True)
            if _contacted(delivery)
        ]
        succeeded = sum(1 for delivery in deliveries if delivery.ok)
        failed = len(deliveries) - succeeded
        context.audit(
            "agent.broadcast",
            outcome="success" if failed == 0 else "warning",
            task=request.task,
            agents=len(agents),
            succeeded=succeeded,
            failed=failed,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return ConnectorResult.ok(
            _answers_json(agents, deliveries),
            warnings=[] if agents else ["No agents to broadcast to"],
            agents_contacted=contacted,
            metadata={
                "succeeded": str(succeeded),
                "failed": str(failed),
                "total": str(len(agents)),
            },
        )

    # -- delivery --------------------------------------------------------------------------

    async def _deliver_all(
        self,
        agents: Sequence[Agent],
        task: str,
        params: Mapping[str, str],
        audit: AuditFn | None,
    ) -> list[Delivery]:
        """Deliver to every agent, ``max_concurrency`` at a time; the deliveries in agent order.

        A fixed pool of workers takes the agents in turn, rather than one task per agent waiting
        on a semaphore: a broadcast to 1,000 agents keeps 64 deliveries' objects alive, not
        1,000, and so pays for far fewer garbage collections.
        """
        deliveries: list[Delivery | None] = [None] * len(agents)
        turns = iter(range(len(agents)))  # shared: each index is taken by exactly one worker

        async def worker() -> None:
            for index in turns:
                deliveries[index] = await self._deliver(agents[index], task, params, audit)

        async with asyncio.TaskGroup() as group:  # one failing worker stops the others
            for _ in range(min(self.settings.max_concurrency, len(agents))):
                group.create_task(worker())
        return [delivery for delivery in deliveries if delivery is not None]  # all are set

    async def _deliver(
        self, agent: Agent, task: str, params: Mapping[str, str], audit: AuditFn | None
    ) -> Delivery:
        """Send one task to one agent through its circuit breaker, and audit the outcome.

        ``audit`` is ``None`` when no sink listens, so the details are not even built. They
        name the origin only (scheme://host:port), never a key or a header.
        """
        transport = self._transport
        if transport is None:
            return Delivery(
                ok=False,
                error="Failed to send task to agent: the connector is not started",
                failure=FailureKind.CONNECTION,
            )
        if not self.breakers.allow(agent.id):
            message = self.breakers.open_message(agent.id)
            if audit is not None:
                audit("agent.task_refused", outcome="failure", agent_id=agent.id, error=message)
            return Delivery(ok=False, error=message)
        started = time.perf_counter() if audit is not None else 0.0
        delivery = await transport.deliver(
            url=_parsed_url(agent.url),
            api_key=agent.api_key,
            task=task,
            params=params,
            idempotency_key=os.urandom(16).hex(),  # as unique as uuid4, and cheaper
        )
        if delivery.ok:
            self.breakers.record_success(agent.id)
        elif delivery.failure is not None:
            self.breakers.record_failure(agent.id, delivery.failure)
        if audit is None:
            return delivery
        audit(
            "agent.task_sent" if delivery.ok else "agent.task_failed",
            outcome="success" if delivery.ok else "failure",
            agent_id=agent.id,
            task=task,
            param_names=sorted(params),
            origin=agent.origin(),
            status=delivery.status,
            attempts=delivery.attempts,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            error=delivery.error,
        )
        return delivery

    async def _check_health_every(self, interval: float, audit: AuditFn) -> None:
        """Send ``health_check`` to every agent each ``interval`` seconds, feeding the breakers."""
        while True:
            await asyncio.sleep(interval)
            try:
                agents = await self.store.list()
                await self._deliver_all(agents, HEALTH_CHECK_TASK, {}, audit)
            except RegistryError as exc:
                audit("agent.health_check_failed", outcome="failure", error=str(exc))


def _answers_json(agents: Sequence[Agent], deliveries: Sequence[Delivery]) -> str:
    """``{agent_id: response or {"error": message}}`` as JSON, reusing each agent's own text.

    Splicing the texts is safe because the transport parsed each one as strict JSON (no NaN,
    no Infinity) before calling the delivery a success.
    """
    parts = []
    for agent, delivery in zip(agents, deliveries, strict=True):
        if delivery.ok:
            answer = delivery.text if delivery.text is not None else json.dumps(delivery.response)
        else:
            answer = json.dumps({"error": delivery.error})
        parts.append(f"{json.dumps(agent.id)}:{answer}")
    return "{" + ",".join(parts) + "}"


def _auditor(context: ExecutionContext) -> AuditFn | None:
    return context.audit if context.auditing else None


@functools.lru_cache(maxsize=4096)
def _parsed_url(url: str) -> yarl.URL:
    return yarl.URL(url)


def _audit_transition(audit: AuditFn, transition: BreakerTransition) -> None:
    audit(
        f"agent.circuit_{transition.state.value}",
        outcome="warning" if transition.state is BreakerState.OPEN else "info",
        agent_id=transition.agent_id,
        previous=transition.previous.value,
        consecutive_failures=transition.consecutive_failures,
        failure=None if transition.failure is None else transition.failure.value,
    )
