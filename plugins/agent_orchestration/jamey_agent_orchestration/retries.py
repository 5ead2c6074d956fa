"""Which delivery failures are retried, and how long to wait between attempts.

Retried: connection failures, timeouts and the statuses 429, 502, 503 and 504, with exponential
backoff and jitter, honouring ``Retry-After`` (capped). Never retried: certificate and TLS errors,
refused addresses, redirects, unreadable or oversized responses and every other status.
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

import attrs
import tenacity

__all__ = [
    "RETRYABLE_STATUSES",
    "FailureKind",
    "RetryPolicy",
    "call_with_retries",
    "failure_for_status",
    "is_retryable",
    "parse_retry_after",
]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class FailureKind(enum.Enum):
    """Why a delivery failed; the circuit breaker counts :attr:`counts_against_health` kinds."""

    CONNECTION = "connection"
    TIMEOUT = "timeout"
    TLS = "tls"
    SECURITY = "security"
    STATUS_4XX = "status_4xx"
    STATUS_5XX = "status_5xx"
    REDIRECT = "redirect"
    BAD_RESPONSE = "bad_response"

    @property
    def counts_against_health(self) -> bool:
        """Whether this failure says the agent is unhealthy (not merely that the request was)."""
        return self in _HEALTH_FAILURES


_HEALTH_FAILURES = frozenset(
    {FailureKind.CONNECTION, FailureKind.TIMEOUT, FailureKind.STATUS_5XX, FailureKind.TLS}
)


def failure_for_status(status: int) -> FailureKind:
    """The failure kind of a non-2xx status (1xx and codes past 599 count as server errors)."""
    if 300 <= status < 400:
        return FailureKind.REDIRECT
    if 400 <= status < 500:
        return FailureKind.STATUS_4XX
    return FailureKind.STATUS_5XX


def is_retryable(failure: FailureKind | None, status: int | None) -> bool:
    """Whether an attempt that failed this way may be tried again."""
    if failure in (FailureKind.CONNECTION, FailureKind.TIMEOUT):
        return True
    if failure in (FailureKind.STATUS_4XX, FailureKind.STATUS_5XX):
        return status in RETRYABLE_STATUSES
    return False


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date), or ``None``.

    A date in the past gives ``0.0``; an unparsable value gives ``None`` (usual backoff applies).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means "-0000"
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class Outcome(Protocol):
    """What one attempt reports to the retry loop."""

    @property
    def retryable(self) -> bool: ...

    @property
    def retry_after(self) -> float | None: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many attempts, and the pauses between them.

    The pause before retry *n* (1-based) is ``backoff_initial * 2**(n-1)`` plus up to
    ``backoff_initial`` of random jitter, at most ``backoff_max``; a ``Retry-After`` answer replaces
    it, capped at ``retry_after_cap`` so that no agent can park a task for long. ``sleep`` is
    injectable so tests need not wait.
    """

    attempts: int = attrs.field(validator=attrs.validators.ge(1))
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    retry_after_cap: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def wait(self) -> tenacity.wait.wait_base:
        """The tenacity wait strategy of this policy."""
        return _WaitRetryAfter(
            tenacity.wait_exponential_jitter(
                multiplier=self.backoff_initial, max=self.backoff_max, jitter=self.backoff_initial
            ),
            cap=self.retry_after_cap,
        )


class _WaitRetryAfter(tenacity.wait.wait_base):
    """The server's ``Retry-After`` when the last outcome carries one, else the fallback backoff."""

    def __init__(self, fallback: tenacity.wait.wait_base, *, cap: float) -> None:
        self._fallback = fallback
        self._cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            hint = getattr(outcome.result(), "retry_after", None)
            if isinstance(hint, int | float):
                return min(max(0.0, float(hint)), self._cap)
        return float(self._fallback(retry_state))


async def call_with_retries(
    attempt: Callable[[], Awaitable[OutcomeT]],
    policy: RetryPolicy,
    *,
    first: OutcomeT | None = None,
) -> OutcomeT:
    """Run ``attempt`` until it is not retryable or ``policy.attempts`` attempts were made.

    ``attempt`` must report failures in its outcome, not raise them: an exception propagates.
    The first attempt runs without tenacity (entering it costs tens of microseconds, and most calls
    succeed first time); only a retryable failure builds a fresh ``AsyncRetrying`` for this call,
    which replays that first outcome as its attempt 1 so that counting and backoff stay exact.
    A caller that already made the first attempt passes its outcome as ``first``.
    """
    if first is None:
        first = await attempt()
    if not first.retryable or policy.attempts <= 1:
        return first

    replay: list[OutcomeT] = [first]

    async def again() -> OutcomeT:
        return replay.pop() if replay else await attempt()

    def last_outcome(state: tenacity.RetryCallState) -> OutcomeT:
        assert state.outcome is not None
        result: OutcomeT = state.outcome.result()
        return result

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=policy.wait(),
        retry=tenacity.retry_if_result(lambda outcome: bool(outcome.retryable)),
        retry_error_callback=last_outcome,
        sleep=policy.sleep,
        reraise=True,
    )
    result: OutcomeT = await retrying(again)
    return result
