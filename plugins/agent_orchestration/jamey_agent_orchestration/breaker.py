"""Per-agent circuit breakers: stop dialling an agent that keeps failing, probe it now and then.

A breaker is *closed* (deliveries go through) until ``threshold`` consecutive health failures
(:attr:`FailureKind.counts_against_health`: connection failures, timeouts, 5xx, TLS) open it. While
*open*, :meth:`Breakers.allow` says no, so the connector fails fast without dialling. After
``cooldown`` seconds the next :meth:`~Breakers.allow` turns it *half-open* and lets exactly one
probe through; the probe's success closes the breaker, its health failure re-opens it for another
cooldown. A probe whose result never comes (its caller was cancelled) is presumed lost after one
more cooldown, and another probe is let through.

An answer that is an error of the request, not of the agent (4xx, a redirect, an unreadable
body), proves the agent is reachable: it counts as success for health. A refused address
(``SECURITY``) was never dialled and changes nothing.

Pure bookkeeping, no I/O, O(1) per call; only agents with failures take memory. State changes are
reported to ``on_change`` (the plugin audits and counts them), and a breaker dropped while open to
``on_forget`` (the count comes down); the callbacks must not raise.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any, Final, final

import attrs

from jamey_agent_orchestration.durations import shown_seconds
from jamey_agent_orchestration.net.client import FailureKind

__all__ = ["BreakerState", "BreakerTransition", "Breakers", "CircuitBreaker"]

_NEUTRAL: Final = frozenset({FailureKind.SECURITY})


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@attrs.frozen(kw_only=True)
class BreakerTransition:
    """One state change of one agent's breaker, as the plugin audits it."""

    agent_id: str
    previous: BreakerState
    state: BreakerState
    consecutive_failures: int
    failure: FailureKind | None = None


@attrs.define
class CircuitBreaker:
    """The breaker of one agent. Use it through :class:`Breakers`."""

    threshold: int
    cooldown: float
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probe_started: float | None = None

    def allow(self, now: float) -> tuple[bool, BreakerState | None]:
        """Whether a delivery may go now, and the state entered if this changed it."""
        if self.state is BreakerState.CLOSED:
            return True, None
        if self.state is BreakerState.OPEN:
            if now - self.opened_at < self.cooldown:
                return False, None
            self.state = BreakerState.HALF_OPEN
            self.probe_started = now
            return True, BreakerState.HALF_OPEN
        # Half-open: one probe at a time; a probe that never reported back is presumed lost.
        if self.probe_started is None or now - self.probe_started >= self.cooldown:
            self.probe_started = now
            return True, None
        return False, None

    def succeed(self) -> BreakerState | None:
        self.failures = 0
        self.probe_started = None
        if self.state is BreakerState.CLOSED:
            return None
        self.state = BreakerState.CLOSED
        return BreakerState.CLOSED

    def fail(self, now: float) -> BreakerState | None:
        self.failures += 1
        self.probe_started = None
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.failures >= self.threshold
        ):
            self.state = BreakerState.OPEN
            self.opened_at = now
            return BreakerState.OPEN
        return None

    def retry_in(self, now: float) -> float:
        """Seconds until a probe may go (0 when one may go now)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self.cooldown - (now - self.opened_at))
        if self.state is BreakerState.HALF_OPEN and self.probe_started is not None:
            return max(0.0, self.cooldown - (now - self.probe_started))
        return 0.0


@final
class Breakers:
    """The breakers of every agent of one runtime.

    ``clock`` is injectable for tests (``time.monotonic`` by default); ``on_change`` receives
    every :class:`BreakerTransition`, and ``on_forget`` the id of every agent whose breaker is
    dropped while open or half-open (:meth:`forget`, :meth:`forget_all`).
    """

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerTransition], None] | None = None,
        on_forget: Callable[[str], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        if not cooldown > 0:
            raise ValueError("cooldown must be positive")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._on_forget = on_forget
        self._breakers: dict[str, CircuitBreaker] = {}  # only agents with failures or not closed

    def _notify(
        self,
        agent_id: str,
        breaker: CircuitBreaker,
        previous: BreakerState,
        failure: FailureKind | None = None,
    ) -> None:
        if self._on_change is not None and breaker.state is not previous:
            self._on_change(
                BreakerTransition(
                    agent_id=agent_id,
                    previous=previous,
                    state=breaker.state,
                    consecutive_failures=breaker.failures,
                    failure=failure,
                )
            )

    def allow(self, agent_id: str) -> bool:
        """Whether a delivery to this agent may be attempted now (may start the one probe)."""
        breaker = self._breakers.get(agent_id)
        if breaker is None:
            return True
        previous = breaker.state
        allowed, changed = breaker.allow(self._clock())
        if changed is not None:
            self._notify(agent_id, breaker, previous)
        return allowed

    def record_success(self, agent_id: str) -> None:
        breaker = self._breakers.pop(agent_id, None)
        if breaker is None:
            return
        previous = breaker.state
        if breaker.succeed() is not None:
            self._notify(agent_id, breaker, previous)

    def record_failure(self, agent_id: str, kind: FailureKind) -> None:
        """Count a failed delivery; only health failures count, an answered request resets."""
        if kind in _NEUTRAL:
            breaker = self._breakers.get(agent_id)
            if breaker is not None:
                breaker.probe_started = None  # the probe did not happen: let another one go
            return
        if not kind.counts_against_health:
            self.record_success(agent_id)
            return
        breaker = self._breakers.get(agent_id)
        if breaker is None:
            breaker = self._breakers[agent_id] = CircuitBreaker(self.threshold, self.cooldown)
        previous = breaker.state
        if breaker.fail(self._clock()) is not None:
            self._notify(agent_id, breaker, previous, kind)

    def forget(self, agent_id: str) -> None:
        """Drop an agent's breaker (unregistered, or replaced with a new address or key)."""
        breaker = self._breakers.pop(agent_id, None)
        if breaker is not None:
            self._forgotten(agent_id, breaker)

    def forget_all(self) -> None:
        """Drop every breaker (the plugin is shutting down)."""
        breakers, self._breakers = self._breakers, {}
        for agent_id, breaker in breakers.items():
            self._forgotten(agent_id, breaker)

    def _forgotten(self, agent_id: str, breaker: CircuitBreaker) -> None:
        if self._on_forget is not None and breaker.state is not BreakerState.CLOSED:
            self._on_forget(agent_id)

    def __len__(self) -> int:
        """How many agents have a breaker in memory: those with failures, or not closed."""
        return len(self._breakers)

    def state(self, agent_id: str) -> BreakerState:
        breaker = self._breakers.get(agent_id)
        return BreakerState.CLOSED if breaker is None else breaker.state

    def unavailable(self) -> frozenset[str]:
        """Ids that :meth:`allow` would refuse now: what capability routing should skip."""
        now = self._clock()
        return frozenset(
            agent_id
            for agent_id, breaker in self._breakers.items()
            if breaker.state is not BreakerState.CLOSED and breaker.retry_in(now) > 0
        )

    def health(self, agent_id: str) -> dict[str, Any]:
        """What ``list_agents`` shows: ``{"state", "consecutive_failures"}`` (+ ``retry_in``)."""
        breaker = self._breakers.get(agent_id)
        if breaker is None:
            return {"state": BreakerState.CLOSED.value, "consecutive_failures": 0}
        shown: dict[str, Any] = {
            "state": breaker.state.value,
            "consecutive_failures": breaker.failures,
        }
        if breaker.state is not BreakerState.CLOSED:
            shown["retry_in"] = shown_seconds(breaker.retry_in(self._clock()))
        return shown

    def open_message(self, agent_id: str) -> str:
        """The fail-fast error of a refused delivery: starts ``circuit open``."""
        breaker = self._breakers.get(agent_id)
        if breaker is None:
            return f"circuit open for agent {agent_id}"
        wait = shown_seconds(breaker.retry_in(self._clock()))
        return (
            f"circuit open for agent {agent_id}: {breaker.failures} consecutive failures; "
            f"next probe in {wait:g}s"
        )
