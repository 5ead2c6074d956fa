"""Delivering tasks: through each agent's circuit breaker, to many agents at once, and unasked.

:class:`Deliverer` is where the connector's actions hand a request over to the network: it asks
the agent's breaker, sends through the client of the agent's protocol (:class:`Clients`), tells
the breaker how it went, and audits the delivery, and any key the agent sent back
(``agent.response_scrubbed``). ``broadcast`` and the periodic health checks use its pool of
workers; a broadcast is traced as one span with a child per delivery (the health checks are not:
each of their requests is a span of its own, as every request is).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, final

import attrs

from jamey_agent_orchestration.breaker import Breakers, BreakerState, BreakerTransition
from jamey_agent_orchestration.durations import elapsed_ms
from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.net.a2a import A2AClient
from jamey_agent_orchestration.net.client import AgentClient, Delivery, FailureKind, SendOptions
from jamey_agent_orchestration.store.base import AgentStore, RegistryError
from jamey_agent_orchestration.telemetry import (
    agent_target,
    circuit_changed,
    start_broadcast,
    start_delivery,
)

__all__ = [
    "HEALTH_CHECK_TASK",
    "AuditFn",
    "Clients",
    "Deliverer",
    "audit_transition",
    "count_forgotten",
    "count_transition",
    "new_idempotency_key",
]

#: Emits one audit event: ``audit(event, outcome=..., **details)`` (a context's or the runtime's).
AuditFn = Callable[..., None]

#: The task the periodic health checks send to ``jamey`` agents (the reference agent answers it).
HEALTH_CHECK_TASK: Final = "health_check"

_NOT_STARTED: Final = "Failed to send task to agent: the connector is not started"


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key``: one per task (or task query) and agent.

    128 random bits from ``os.urandom`` (as unique as a uuid4, and as unpredictable), drawn for
    :data:`_KEYS_PER_DRAW` keys at a time: a system call per key cost more than the rest of
    making one. Safe from any thread (``list.pop`` is atomic); a forked child draws its own.
    """
    try:
        return _unused_keys.pop()
    except IndexError:
        block = os.urandom(16 * _KEYS_PER_DRAW).hex()
        keys = [block[start : start + 32] for start in range(0, len(block), 32)]
        key = keys.pop()  # this caller's, before other threads can empty the shared list again
        _unused_keys.extend(keys)
        return key


_KEYS_PER_DRAW: Final = 256
_unused_keys: list[str] = []
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    # A child must not send the keys its parent has yet to send.
    os.register_at_fork(after_in_child=_unused_keys.clear)


@final
@attrs.frozen
class Clients:
    """The protocol clients of one runtime, over its one transport."""

    jamey: AgentClient
    a2a: A2AClient

    def for_agent(self, agent: Agent) -> AgentClient:
        return self.a2a if agent.protocol == "a2a" else self.jamey


@final
class Deliverer:
    """Sends requests to agents through their circuit breakers; never raises for a failure.

    ``clients`` is ``None`` until the plugin has started (every delivery then fails, saying so).
    Every method takes ``audit``, ``None`` when no sink listens, so no details are even built;
    events name the origin only (scheme://host:port), never a key or a header.
    """

    def __init__(
        self, clients: Clients | None, breakers: Breakers, *, max_concurrency: int
    ) -> None:
        self._clients = clients
        self._breakers = breakers
        self._max_concurrency = max_concurrency

    async def deliver(
        self,
        agent: Agent,
        task: str,
        params: Mapping[str, str],
        audit: AuditFn | None,
        *,
        options: SendOptions | None = None,
        audit_delivery: bool = True,
    ) -> Delivery:
        """Send one task to one agent through its circuit breaker.

        With ``audit_delivery`` the delivery is audited (``agent.task_sent``, ``agent.task_failed``,
        ``agent.task_refused``); ``send_task`` describes it on its own call's event instead.
        """
        clients = self._clients
        if clients is None:
            return Delivery(ok=False, error=_NOT_STARTED, failure=FailureKind.CONNECTION)
        if not self._breakers.allow(agent.id):
            message = self._breakers.open_message(agent.id)
            if audit is not None and audit_delivery:
                audit("agent.task_refused", outcome="failure", agent_id=agent.id, error=message)
            return Delivery(ok=False, error=message)
        started = time.perf_counter() if audit is not None else 0.0
        delivery = await clients.for_agent(agent).send_task(
            agent, task, params, idempotency_key=new_idempotency_key(), options=options
        )
        self._learn(agent, delivery, audit)
        if audit is not None and audit_delivery:
            audit(
                "agent.task_sent" if delivery.ok else "agent.task_failed",
                outcome="success" if delivery.ok else "failure",
                agent_id=agent.id,
                task=task,
                param_names=sorted(params),
                origin=agent.origin,
                status=delivery.status,
                attempts=delivery.attempts,
                duration_ms=elapsed_ms(started),
                error=delivery.error,
            )
        return delivery

    async def query(
        self,
        agent: Agent,
        send: Callable[[A2AClient, str], Awaitable[Delivery]],
        audit: AuditFn | None,
    ) -> Delivery:
        """An A2A task query (``get_task``, ``cancel_task``) through the agent's circuit breaker.

        ``send(client, idempotency_key)`` makes the request.
        """
        clients = self._clients
        if clients is None:
            return Delivery(ok=False, error=_NOT_STARTED, failure=FailureKind.CONNECTION)
        if not self._breakers.allow(agent.id):
            return Delivery(ok=False, error=self._breakers.open_message(agent.id))
        delivery = await send(clients.a2a, new_idempotency_key())
        self._learn(agent, delivery, audit)
        return delivery

    def _learn(self, agent: Agent, delivery: Delivery, audit: AuditFn | None) -> None:
        """Tell the breaker how the request went; audit a key the agent sent back."""
        if delivery.ok:
            self._breakers.record_success(agent.id)
        elif delivery.failure is not None:
            self._breakers.record_failure(agent.id, delivery.failure)
        if delivery.scrubbed and audit is not None:
            audit(
                "agent.response_scrubbed",
                outcome="warning",
                agent_id=agent.id,
                origin=agent.origin,
                message="the agent's answer held the API key sent to it; it was replaced by ***",
            )

    async def deliver_all(
        self,
        agents: Sequence[Agent],
        task: str,
        params: Mapping[str, str],
        audit: AuditFn | None,
    ) -> list[Delivery]:
        """Deliver to every agent, ``max_concurrency`` at a time; the deliveries in agent order.

        Traced as a ``broadcast`` span, current while the pool's workers are created (so that
        they inherit it), with a ``deliver_task`` child per agent, its attempts under that.
        """

        async def deliver(agent: Agent) -> Delivery:
            target = agent_target(agent.id, agent.name, agent.url, agent.protocol)
            with start_delivery(target) as span:
                delivery = await self.deliver(agent, task, params, audit)
                span.end(
                    ok=delivery.ok,
                    attempts=delivery.attempts,
                    failure=delivery.failure,
                    error=delivery.error,
                )
            return delivery

        with start_broadcast(agents=len(agents)) as span:
            deliveries = await self._each(agents, deliver)
            succeeded = sum(1 for delivery in deliveries if delivery.ok)
            span.end(succeeded=succeeded, failed=len(deliveries) - succeeded)
        return deliveries

    async def _each(
        self, agents: Sequence[Agent], send: Callable[[Agent], Awaitable[Delivery]]
    ) -> list[Delivery]:
        """``send`` to every agent, ``max_concurrency`` at a time; the deliveries in agent order.

        A fixed pool of workers takes the agents in turn, rather than one task per agent waiting
        on a semaphore: a broadcast to 1,000 agents keeps 64 deliveries' objects alive, not
        1,000, and so pays for far fewer garbage collections.
        """
        deliveries: list[Delivery | None] = [None] * len(agents)
        turns = iter(range(len(agents)))  # shared: each index is taken by exactly one worker

        async def worker() -> None:
            for index in turns:
                deliveries[index] = await send(agents[index])

        async with asyncio.TaskGroup() as group:  # one failing worker stops the others
            for _ in range(min(self._max_concurrency, len(agents))):
                group.create_task(worker())
        return [delivery for delivery in deliveries if delivery is not None]  # all are set

    async def check_health(self, agent: Agent, audit: AuditFn) -> Delivery:
        """One health check: ``health_check`` to a ``jamey`` agent, a card fetch from an A2A one.

        An A2A agent has no task of that name (a language model would read it as a request), so
        it is asked for its card instead, without a key: the answer proves it is reachable.
        """
        if agent.protocol != "a2a":
            return await self.deliver(agent, HEALTH_CHECK_TASK, {}, audit)
        clients = self._clients
        if clients is None:
            return Delivery(ok=False, error=_NOT_STARTED, failure=FailureKind.CONNECTION)
        if not self._breakers.allow(agent.id):
            message = self._breakers.open_message(agent.id)
            audit("agent.task_refused", outcome="failure", agent_id=agent.id, error=message)
            return Delivery(ok=False, error=message)
        started = time.perf_counter()
        delivery = await clients.a2a.check_card(agent)
        self._learn(agent, delivery, audit)
        audit(
            "agent.health_checked",
            outcome="success" if delivery.ok else "failure",
            agent_id=agent.id,
            origin=agent.origin,
            status=delivery.status,
            attempts=delivery.attempts,
            duration_ms=elapsed_ms(started),
            error=delivery.error,
        )
        return delivery

    async def check_health_every(self, interval: float, store: AgentStore, audit: AuditFn) -> None:
        """Check every agent's health each ``interval`` seconds, feeding the breakers."""

        async def check(agent: Agent) -> Delivery:
            return await self.check_health(agent, audit)

        while True:
            await asyncio.sleep(interval)
            try:
                agents = await store.list()
                await self._each(agents, check)
            except RegistryError as exc:
                audit("agent.health_check_failed", outcome="failure", error=str(exc))


def count_transition(transition: BreakerTransition) -> None:
    """Count a breaker's change of state in ``jamey.agent.circuit_open`` (half-open is open)."""
    circuit_changed(
        transition.agent_id,
        was_open=transition.previous is not BreakerState.CLOSED,
        is_open=transition.state is not BreakerState.CLOSED,
    )


def count_forgotten(agent_id: str) -> None:
    """An agent's breaker was dropped while open: it no longer counts in ``circuit_open``."""
    circuit_changed(agent_id, was_open=True, is_open=False)


def audit_transition(audit: AuditFn, transition: BreakerTransition) -> None:
    """Audit a breaker's change of state (``agent.circuit_open``, ``_half_open``, ``_closed``)."""
    audit(
        f"agent.circuit_{transition.state.value}",
        outcome="warning" if transition.state is BreakerState.OPEN else "info",
        agent_id=transition.agent_id,
        previous=transition.previous.value,
        consecutive_failures=transition.consecutive_failures,
        failure=None if transition.failure is None else transition.failure.value,
    )
