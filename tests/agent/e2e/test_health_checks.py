"""Periodic health checks (``health_interval``): real agents over TLS, feeding the breakers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory

    from ..connector import MakeConnector, Waiter


async def test_health_checks_reach_every_agent_in_the_background(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory, wait_for: Waiter
) -> None:
    connector = await make_connector(health_interval="0.1")
    first = await jamey_agent_server(name="first")
    second = await jamey_agent_server(name="second")
    assert (await connector.register("first", first)).success
    assert (await connector.register("second", second)).success

    def checked_twice() -> bool:
        return all(
            sum(1 for r in agent.requests if r.body["task"] == "health_check") >= 2
            for agent in (first, second)
        )

    await wait_for(checked_twice)  # no call was made: the runtime's own task sent them
    sent = connector.named("agent.task_sent")
    assert {e.details["agent_id"] for e in sent} == {"first", "second"}
    assert all(e.details["task"] == "health_check" for e in sent)


async def test_health_checks_open_the_circuit_of_a_dead_agent_and_close_it_on_recovery(
    make_connector: MakeConnector, jamey_agent_server: AgentServerFactory, wait_for: Waiter
) -> None:
    connector = await make_connector(
        health_interval="0.1", breaker_threshold="2", breaker_cooldown="0.3", retries="1"
    )
    agent = await jamey_agent_server(name="flaky")
    assert (await connector.register("flaky", agent)).success
    agent.fail_next(503, times=2)

    await wait_for(lambda: bool(connector.named("agent.circuit_open")))
    refused = await connector.call("send_task", agent_id="flaky", task="echo")
    assert not refused.success
    assert refused.errors[0].startswith("circuit open for agent flaky")
    [listed] = await connector.listed()
    assert listed["health"]["state"] in ("open", "half_open")

    # The agent answers again: after the cooldown a background health check is the probe.
    await wait_for(lambda: bool(connector.named("agent.circuit_closed")))
    [listed] = await connector.listed()
    assert "health" not in listed
    assert (await connector.call("send_task", agent_id="flaky", task="health_check")).success
