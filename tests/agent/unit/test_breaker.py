"""Per-agent circuit breakers, on a fake clock."""

from __future__ import annotations

import pytest

from jamey_agent_orchestration.breaker import Breakers, BreakerState, BreakerTransition
from jamey_agent_orchestration.net.client import FailureKind

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[BreakerTransition]:
    return []


@pytest.fixture
def breakers(clock: Clock, changes: list[BreakerTransition]) -> Breakers:
    return Breakers(threshold=3, cooldown=30.0, clock=clock, on_change=changes.append)


def fail(breakers: Breakers, times: int, kind: FailureKind = FailureKind.TIMEOUT) -> None:
    for _ in range(times):
        breakers.record_failure("a", kind)


def test_defaults_match_the_contract() -> None:
    breakers = Breakers()
    assert (breakers.threshold, breakers.cooldown) == (5, 30.0)
    for _ in range(4):
        breakers.record_failure("a", FailureKind.CONNECTION)
    assert breakers.allow("a")
    breakers.record_failure("a", FailureKind.CONNECTION)
    assert not breakers.allow("a")


@pytest.mark.parametrize(
    "kind", [FailureKind.CONNECTION, FailureKind.TIMEOUT, FailureKind.STATUS_5XX, FailureKind.TLS]
)
def test_opens_after_threshold_health_failures(
    breakers: Breakers, changes: list[BreakerTransition], kind: FailureKind
) -> None:
    fail(breakers, 2, kind)
    assert breakers.state("a") is CLOSED
    assert breakers.allow("a")
    fail(breakers, 1, kind)
    assert breakers.state("a") is OPEN
    assert not breakers.allow("a")
    assert breakers.allow("b")  # per agent
    assert changes == [
        BreakerTransition(
            agent_id="a", previous=CLOSED, state=OPEN, consecutive_failures=3, failure=kind
        )
    ]
    assert breakers.unavailable() == {"a"}
    assert breakers.open_message("a").startswith("circuit open for agent a: 3 consecutive")


@pytest.mark.parametrize(
    "kind", [FailureKind.STATUS_4XX, FailureKind.REDIRECT, FailureKind.BAD_RESPONSE]
)
def test_an_answered_request_does_not_count_and_resets_the_streak(
    breakers: Breakers, kind: FailureKind
) -> None:
    fail(breakers, 2)
    breakers.record_failure("a", kind)
    fail(breakers, 2)
    assert breakers.state("a") is CLOSED
    for _ in range(10):
        breakers.record_failure("a", kind)
    assert breakers.state("a") is CLOSED
    assert breakers.health("a") == {"state": "closed", "consecutive_failures": 0}


def test_a_refused_address_changes_nothing(breakers: Breakers) -> None:
    fail(breakers, 2)
    for _ in range(5):
        breakers.record_failure("a", FailureKind.SECURITY)
    assert breakers.health("a")["consecutive_failures"] == 2
    fail(breakers, 1)
    assert breakers.state("a") is OPEN


def test_success_resets_the_streak(breakers: Breakers) -> None:
    fail(breakers, 2)
    breakers.record_success("a")
    fail(breakers, 2)
    assert breakers.state("a") is CLOSED


def test_half_open_lets_exactly_one_probe_through_then_recovers(
    breakers: Breakers, clock: Clock, changes: list[BreakerTransition]
) -> None:
    fail(breakers, 3)
    clock.now += 29.9
    assert not breakers.allow("a")
    assert breakers.health("a") == {"state": "open", "consecutive_failures": 3, "retry_in": 0.1}
    clock.now += 0.1
    assert "a" not in breakers.unavailable()  # routing may pick it: it is due a probe
    assert breakers.allow("a")  # the probe
    assert breakers.state("a") is HALF_OPEN
    assert "a" in breakers.unavailable()
    assert [breakers.allow("a") for _ in range(5)] == [False] * 5
    breakers.record_success("a")
    assert breakers.state("a") is CLOSED
    assert all(breakers.allow("a") for _ in range(5))
    assert [(c.previous, c.state) for c in changes] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


def test_a_failed_probe_reopens_for_another_cooldown(
    breakers: Breakers, clock: Clock, changes: list[BreakerTransition]
) -> None:
    fail(breakers, 3)
    clock.now += 30
    assert breakers.allow("a")
    fail(breakers, 1, FailureKind.STATUS_5XX)
    assert breakers.state("a") is OPEN
    clock.now += 29
    assert not breakers.allow("a")
    clock.now += 1
    assert breakers.allow("a")
    breakers.record_failure("a", FailureKind.STATUS_4XX)  # the agent answered: healthy
    assert breakers.state("a") is CLOSED
    assert [c.state for c in changes] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN, CLOSED]
    assert changes[2].failure is FailureKind.STATUS_5XX


def test_a_lost_probe_is_replaced_after_a_cooldown(breakers: Breakers, clock: Clock) -> None:
    fail(breakers, 3)
    clock.now += 30
    assert breakers.allow("a")  # the probe's caller is cancelled: no result ever comes
    clock.now += 29
    assert not breakers.allow("a")
    clock.now += 1
    assert breakers.allow("a")
    assert not breakers.allow("a")


def test_a_refused_probe_frees_the_slot(breakers: Breakers, clock: Clock) -> None:
    fail(breakers, 3)
    clock.now += 30
    assert breakers.allow("a")
    breakers.record_failure("a", FailureKind.SECURITY)
    assert breakers.allow("a")


def test_late_results_of_requests_sent_before_opening(breakers: Breakers) -> None:
    fail(breakers, 5)  # more failures while open: stays open, keeps counting
    assert breakers.state("a") is OPEN
    assert breakers.health("a")["consecutive_failures"] == 5
    breakers.record_success("a")  # a slow success from before: the agent is alive
    assert breakers.state("a") is CLOSED


def test_forget_and_memory(breakers: Breakers) -> None:
    for n in range(1000):
        breakers.record_success(f"x{n}")
    assert len(breakers) == 0  # an agent that never failed takes no memory
    fail(breakers, 3)
    breakers.forget("a")
    assert breakers.allow("a")
    assert breakers.state("a") is CLOSED


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="threshold"):
        Breakers(threshold=0)
    with pytest.raises(ValueError, match="cooldown"):
        Breakers(cooldown=0)
