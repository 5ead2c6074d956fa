"""The retry rules and the one retry loop (``RetryPolicy.run``, tenacity past the first
attempt), without a network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jamey_agent_orchestration.net.client import Attempt, FailureKind
from jamey_agent_orchestration.net.retry import RetryPolicy, Tries, is_retryable, parse_retry_after


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def unavailable(retry_after: float | None = None) -> Attempt:
    return Attempt.failed(
        FailureKind.STATUS_5XX,
        "Agent returned error status: 503",
        status=503,
        retry_after=retry_after,
    )


OK = Attempt(ok=True, response={}, text="{}", status=200)


class Script:
    """A ``send`` for ``RetryPolicy.run`` that answers with the given attempts, in order."""

    def __init__(self, answers: list[Attempt]) -> None:
        self.answers = answers
        self.numbers: list[int] = []

    async def __call__(self, number: int) -> Attempt:
        self.numbers.append(number)
        return self.answers.pop(0)


async def run(policy: RetryPolicy, answers: list[Attempt]) -> tuple[Tries, list[int]]:
    """Run one call; the attempt numbers ``send`` was called with."""
    script = Script(answers)
    tries = await policy.run(script)
    return tries, script.numbers


def test_parse_retry_after() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Tue, 01 Jan 2030 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Mon, 31 Dec 2029 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-5") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_failure_kinds_for_the_breaker() -> None:
    health = {kind for kind in FailureKind if kind.counts_against_health}
    assert health == {
        FailureKind.CONNECTION,
        FailureKind.TIMEOUT,
        FailureKind.STATUS_5XX,
        FailureKind.TLS,
    }


@pytest.mark.parametrize(
    ("failure", "status", "retried"),
    [
        (FailureKind.CONNECTION, None, True),
        (FailureKind.TIMEOUT, None, True),
        (FailureKind.STATUS_5XX, 503, True),
        (FailureKind.STATUS_4XX, 429, True),
        (FailureKind.STATUS_5XX, 500, False),
        (FailureKind.STATUS_4XX, 404, False),
        (FailureKind.TLS, None, False),
        (FailureKind.SECURITY, None, False),
        (FailureKind.REDIRECT, 307, False),
        (FailureKind.BAD_RESPONSE, 200, False),
    ],
)
def test_what_is_retried(failure: FailureKind, status: int | None, retried: bool) -> None:
    assert is_retryable(failure, status) is retried


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("inf"), float("nan")])
def test_nonsense_timeout_is_a_programming_error(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        RetryPolicy(attempts=3, timeout=timeout)


def test_the_budget_is_every_attempt_plus_the_longest_pauses() -> None:
    # Pauses of at most 0.2 + 0.2 and 0.4 + 0.2 seconds between 3 attempts of 30 seconds.
    assert RetryPolicy(attempts=3, timeout=30.0).budget == pytest.approx(91.0)
    assert RetryPolicy(attempts=1, timeout=2.0).budget == 2.0
    # The pauses grow, at most backoff_max each.
    policy = RetryPolicy(attempts=10, timeout=1.0, backoff_initial=1.0, backoff_max=5.0)
    assert [policy.longest_pause(n) for n in (1, 2, 3, 4)] == [2.0, 3.0, 5.0, 5.0]


async def test_a_first_success_is_one_try_and_no_pause() -> None:
    sleeps = Sleeps()
    tries, numbers = await run(RetryPolicy(attempts=3, timeout=1.0, sleep=sleeps), [OK])
    assert numbers == [1]
    delivery = tries.delivery()
    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 1, 200)
    assert sleeps.calls == []


async def test_retries_pause_with_backoff_and_count_every_try() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=3, timeout=1.0, backoff_initial=0.1, sleep=sleeps)
    tries, numbers = await run(policy, [unavailable(), unavailable(), unavailable()])
    assert numbers == [1, 2, 3]
    delivery = tries.delivery()
    assert (delivery.ok, delivery.attempts, delivery.error) == (
        False,
        3,
        "Agent returned error status: 503",
    )
    assert len(sleeps.calls) == 2
    assert 0.1 <= sleeps.calls[0] <= 0.2 <= sleeps.calls[1] <= 0.3


async def test_a_retry_after_that_fits_the_budget_is_waited_for() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=2, timeout=5.0, sleep=sleeps)
    tries, numbers = await run(policy, [unavailable(retry_after=4.0), OK])
    assert numbers == [1, 2]
    assert sleeps.calls == [4.0]
    assert tries.delivery().ok


async def test_a_retry_after_past_the_budget_is_not_waited_for() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=3, timeout=1.0, sleep=sleeps)
    tries, numbers = await run(policy, [unavailable(retry_after=30.0)])
    assert numbers == [1]
    assert sleeps.calls == []
    delivery = tries.delivery()
    assert delivery.attempts == 1
    assert delivery.error == (
        "Agent returned error status: 503 (the agent asked to retry in 30s, past this call's "
        f"time budget of {policy.budget:g}s)"
    )


async def test_waits_already_made_count_against_the_budget() -> None:
    # Budget: 3 x 5 s plus 1 s of backoff. A first wait of 8 s leaves room for one more try
    # (8 + 5 <= 16), not for a second wait of 8 s before it (8 + 8 + 5 > 16).
    sleeps = Sleeps()
    answers = [unavailable(retry_after=8.0), unavailable(retry_after=8.0)]
    tries, numbers = await run(RetryPolicy(attempts=3, timeout=5.0, sleep=sleeps), answers)
    assert numbers == [1, 2]
    assert sleeps.calls == [8.0]
    assert tries.delivery().attempts == 2


async def test_an_attempt_that_never_dialled_counts_no_request() -> None:
    refused = Attempt.failed(FailureKind.CONNECTION, "Failed to send task to agent", sent=False)
    tries, numbers = await run(RetryPolicy(attempts=2, timeout=1.0, sleep=Sleeps()), [refused] * 2)
    assert numbers == [1, 2]
    assert tries.delivery().attempts == 0


async def test_a_failure_that_may_not_be_retried_is_one_attempt() -> None:
    not_found = Attempt.failed(
        FailureKind.STATUS_4XX, "Agent returned error status: 404", status=404
    )
    sleeps = Sleeps()
    tries, numbers = await run(RetryPolicy(attempts=3, timeout=1.0, sleep=sleeps), [not_found])
    assert numbers == [1]
    assert sleeps.calls == []
    assert tries.delivery().error == "Agent returned error status: 404"


async def test_the_first_attempt_does_not_enter_tenacity(monkeypatch: pytest.MonkeyPatch) -> None:
    from jamey_agent_orchestration.net import retry

    entered: list[object] = []

    class Watched(retry.AsyncRetrying):
        def __aiter__(self) -> Watched:
            entered.append(self)
            return super().__aiter__()  # type: ignore[return-value]

    monkeypatch.setattr(retry, "AsyncRetrying", Watched)
    policy = RetryPolicy(attempts=3, timeout=1.0, sleep=Sleeps())
    await run(policy, [OK])
    assert entered == []
    await run(policy, [unavailable(), OK])
    await run(policy, [unavailable(), OK])
    assert len(entered) == 2
    assert entered[0] is not entered[1]  # a fresh AsyncRetrying per call: no shared state


async def test_a_cancelled_attempt_is_not_retried() -> None:
    import asyncio

    calls: list[int] = []

    async def send(number: int) -> Attempt:
        calls.append(number)
        if number == 1:
            return unavailable()
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await RetryPolicy(attempts=3, timeout=1.0, sleep=Sleeps()).run(send)
    assert calls == [1, 2]


async def test_a_bug_in_an_attempt_propagates() -> None:
    async def send(number: int) -> Attempt:
        if number == 1:
            return unavailable()
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await RetryPolicy(attempts=3, timeout=1.0, sleep=Sleeps()).run(send)
