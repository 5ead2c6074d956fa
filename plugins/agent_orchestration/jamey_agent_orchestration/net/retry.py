"""Which failed requests are tried again, when, and within what time: the one retry loop.

Retried: connection failures, timeouts and the statuses 429, 502, 503 and 504, with exponential
backoff and jitter, honouring ``Retry-After``. Never retried: certificate and TLS errors, refused
addresses, redirects, unreadable or oversized responses and every other status.

Each call has one time budget: ``timeout`` for each of its ``attempts``, plus the longest pauses
the backoff can make between them (see :attr:`RetryPolicy.budget`). A retry is made only if its
pause and a whole attempt fit in what is left, so an agent's ``Retry-After`` can never hold a call
longer than its settings allow; a pause that does not fit ends the call with the last answer.

A protocol client drives the loop (stamina's shape)::

    tries = policy.tries()
    async for number in tries:  # the first try at once; a pause before each retry
        tries.record(await send_one_request())
    delivery = tries.delivery()

The loop is this small class rather than a general retry framework's: most calls succeed at
once, so the first try must cost nothing beyond the request, and tenacity's loop was measured to
be a share of a ``send_task`` to a local agent that the throughput goal cannot spare (see
docs/performance.md).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, final

import attrs

from jamey_agent_orchestration.net.client import Attempt, Delivery, FailureKind
from jamey_agent_orchestration.settings import AgentSettings

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "Tries",
    "failure_for_status",
    "is_retryable",
    "parse_retry_after",
]

RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})


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


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    # aiohttp reads a total of 0 as "no timeout at all", and an infinite one is no bound either.
    if not 0 < value < math.inf:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many attempts, how long each may take, and the pauses between them.

    The pause before retry *n* (1-based) is ``backoff_initial * 2**(n-1)`` plus up to
    ``backoff_initial`` of random jitter, at most ``backoff_max``; an agent's ``Retry-After``
    replaces it. ``sleep`` is injectable so tests need not wait (the budget counts the pauses
    asked for, not the time a fake sleep took).
    """

    attempts: int = attrs.field(validator=attrs.validators.ge(1))
    timeout: float = attrs.field(validator=_positive_seconds)
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def from_settings(
        cls, settings: AgentSettings, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> RetryPolicy:
        return cls(attempts=settings.retries, timeout=settings.timeout, sleep=sleep)

    def longest_pause(self, retry: int) -> float:
        """The longest backoff before retry ``retry`` (1-based): the jitter at its maximum."""
        return min(
            self.backoff_max, self.backoff_initial * 2.0 ** (retry - 1) + self.backoff_initial
        )

    def pause(self, retry: int) -> float:
        """The backoff before retry ``retry`` (1-based), with its random jitter."""
        jitter = random.uniform(0, self.backoff_initial)  # noqa: S311 - spreads retries, no secret
        return min(self.backoff_max, self.backoff_initial * 2.0 ** (retry - 1) + jitter)

    @property
    def budget(self) -> float:
        """The most time one call may take: every attempt's ``timeout`` plus the longest pauses.

        With the defaults (``timeout`` 30, 3 attempts) that is 90 s plus 0.4 s and 0.6 s.
        """
        pauses = sum(self.longest_pause(retry) for retry in range(1, self.attempts))
        return self.attempts * self.timeout + pauses

    def tries(self) -> Tries:
        """The tries of one call (a fresh object per call: nothing is shared between calls)."""
        return Tries(self)


@final
class Tries:
    """One call's tries: the one retry loop, and the counts of what it did.

    Iterating gives the number of each try (1, 2, ...): the first at once, each retry after its
    pause. The loop ends after a try that succeeded, one that may not be retried, the last
    allowed attempt, or when the next retry would not fit in the call's budget.
    :meth:`delivery` then describes the call as a whole.
    """

    __slots__ = (
        "_last",
        "_policy",
        "_refused_wait",
        "_spent",
        "_started",
        "number",
        "sent",
        "status",
    )

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._last: Attempt | None = None
        self._started = 0.0
        self._spent = 0.0  # the budget used: each try (at most its timeout) and each pause
        self._refused_wait: float | None = None  # an agent's Retry-After that did not fit
        self.number = 0  # tries made
        self.sent = 0  # requests that reached (or at least dialled) the agent
        self.status: int | None = None  # the last HTTP status seen

    def __aiter__(self) -> Tries:
        return self

    async def __anext__(self) -> int:
        last = self._last
        if last is not None:
            if last.ok or not is_retryable(last.failure, last.status):
                raise StopAsyncIteration
            pause = self._next_pause(last)
            if pause is None:
                raise StopAsyncIteration
            if pause > 0:
                await self._policy.sleep(pause)
        self.number += 1
        self._started = time.monotonic()
        return self.number

    def _next_pause(self, last: Attempt) -> float | None:
        """The pause before the next retry, or ``None`` when there is to be no retry."""
        policy = self._policy
        if self.number >= policy.attempts:
            return None
        self._spent += min(time.monotonic() - self._started, policy.timeout)
        pause = last.retry_after if last.retry_after is not None else policy.pause(self.number)
        if self._spent + pause + policy.timeout > policy.budget:
            if last.retry_after is not None:
                self._refused_wait = pause
            return None
        self._spent += pause
        return pause

    def record(self, attempt: Attempt) -> None:
        """The outcome of the try just made."""
        self._last = attempt
        self.sent += attempt.sent
        if attempt.status is not None:
            self.status = attempt.status

    def delivery(self) -> Delivery:
        """The call's outcome: the last try's answer, with the counts of every try."""
        last = self._last
        if last is None:
            raise RuntimeError("Tries.delivery() before any try was recorded")
        error = last.error
        if self._refused_wait is not None and error is not None:
            error = (
                f"{error} (the agent asked to retry in {self._refused_wait:g}s, past this "
                f"call's time budget of {self._policy.budget:g}s)"
            )
        return Delivery(
            ok=last.ok,
            response=last.response,
            text=last.text,
            error=error,
            status=self.status,
            attempts=self.sent,
            failure=last.failure,
        )
