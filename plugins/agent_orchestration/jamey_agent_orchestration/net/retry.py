"""Which failed requests are tried again, when, and within what time: the one retry loop.

Retried: connection failures, timeouts and the statuses 429, 502, 503 and 504, with exponential
backoff and jitter, honouring ``Retry-After``. Never retried: certificate and TLS errors, refused
addresses, redirects, unreadable or oversized responses, an agent's error answers and every other
status.

Each call has one time budget: ``timeout`` for each of its ``attempts``, plus the longest pauses
the backoff can make between them (see :attr:`RetryPolicy.budget`). A retry is made only if its
pause and a whole attempt fit in what is left, so an agent's ``Retry-After`` can never hold a call
longer than its settings allow; a pause that does not fit ends the call with the last answer.

Every protocol client runs its requests through :meth:`RetryPolicy.run`, with a coroutine
function that makes one attempt. The first attempt is made at once, outside any retry machinery:
most calls succeed there. Only an answer worth retrying hands the call to tenacity, in stamina's
shape: a fresh ``AsyncRetrying`` per call, whose attempt 1 is the attempt already made, and whose
``wait`` and ``stop`` are this call's :class:`Tries` (the backoff or ``Retry-After``, the attempts
left, the budget). :class:`Tries` carries the counts of the whole call and gives its
:class:`~jamey_agent_orchestration.net.client.Delivery`.
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
from tenacity import AsyncRetrying, RetryCallState, TryAgain, retry_never

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

#: Makes attempt number N (1-based) of a call's request and reads its answer; never raises for
#: a failure.
SendOnce = Callable[[int], Awaitable[Attempt]]


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

    async def run(self, send: SendOnce) -> Tries:
        """Make the attempts of one call: the first at once, the retries through tenacity.

        ``send(number)`` makes attempt ``number`` (1, 2, ...) and reads its answer. The returned
        :class:`Tries` holds the counts of every attempt and the call's :meth:`~Tries.delivery`.
        """
        tries = Tries(self)
        tries.record(await send(tries.begin()))
        if tries.settled:  # most calls end here, without entering tenacity
            return tries
        retrying = AsyncRetrying(
            sleep=self.sleep,
            wait=tries.next_pause,
            stop=tries.must_stop,
            retry=retry_never,  # an attempt asks for its retry by raising TryAgain
            retry_error_callback=_keep_last_answer,
        )
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:  # attempt 1 was made above
                    tries.record(await send(tries.begin()))
                if not tries.settled:
                    raise TryAgain
        return tries


def _keep_last_answer(state: RetryCallState) -> None:
    """When the retries stop, the call ends with its last answer (``Tries`` has it)."""


@final
class Tries:
    """One call's attempts: their counts, and what the retry loop asks of them.

    Each attempt is ``tries.record(await send(tries.begin()))``: :meth:`begin` counts it and
    numbers it, :meth:`record` takes its answer. :attr:`settled` says whether that answer is final
    (a success, or a failure that may not be retried). For tenacity, :meth:`next_pause` is the
    call's ``wait`` and :meth:`must_stop` its ``stop``. :meth:`delivery` then describes the call.
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
        self._spent = 0.0  # the budget used: each attempt (at most its timeout) and each pause
        self._refused_wait: float | None = None  # an agent's Retry-After that did not fit
        self.number = 0  # attempts made
        self.sent = 0  # requests that reached (or at least dialled) the agent
        self.status: int | None = None  # the last HTTP status seen

    def begin(self) -> int:
        """Count the attempt about to be made; its number (1-based), for ``send``."""
        self.number += 1
        self._started = time.monotonic()
        return self.number

    def record(self, attempt: Attempt) -> None:
        """The answer of the attempt just made (the one :meth:`begin` counted)."""
        self._last = attempt
        self.sent += attempt.sent
        if attempt.status is not None:
            self.status = attempt.status

    @property
    def settled(self) -> bool:
        """Whether the last answer is final: a success, or a failure not worth retrying."""
        last = self._last
        return last is None or last.ok or not is_retryable(last.failure, last.status)

    def next_pause(self, state: RetryCallState | None = None) -> float:
        """The pause before the next attempt: the agent's ``Retry-After``, else the backoff."""
        last = self._last
        if last is not None and last.retry_after is not None:
            return last.retry_after
        return self._policy.pause(self.number)

    def must_stop(self, state: RetryCallState) -> bool:
        """Whether to give up instead of pausing ``state.upcoming_sleep`` and trying again.

        It gives up after the last allowed attempt, or when the pause and a whole attempt no
        longer fit in the call's budget.
        """
        policy = self._policy
        if self.number >= policy.attempts:
            return True
        self._spent += min(time.monotonic() - self._started, policy.timeout)
        pause = state.upcoming_sleep
        if self._spent + pause + policy.timeout > policy.budget:
            last = self._last
            if last is not None and last.retry_after is not None:
                self._refused_wait = pause
            return True
        self._spent += pause
        return False

    def delivery(self) -> Delivery:
        """The call's outcome: the last attempt's answer, with the counts of every attempt."""
        last = self._last
        if last is None:
            raise RuntimeError("Tries.delivery() before any attempt was made")
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
