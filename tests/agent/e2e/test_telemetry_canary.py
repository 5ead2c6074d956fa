"""Nothing secret in telemetry (contract section 9): canaries driven through the call paths, then
everything the in-memory span exporter and metric reader received is scanned for them.

The key canaries (``test_canary.py``: every ``jamey`` success and failure, retries, refusals,
broadcasts; ``test_a2a_canary.py``: every A2A registration, task, query and hostile answer) scan
telemetry too, with the canary as the API key. This test drives the values those leave alone:
canaries as task texts, ``param_`` values and URL user-info, through both protocols, a retry, the
A2A task queries, a broadcast, a breaker opening and its agent forgotten, and the runtime's own
denial. The agents do receive the canaries: a scan that finds nothing proves something only
because they went through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_setup import OtelCapture

from jamey_agent_orchestration.testing.server import TaskRequest
from jamey_host import CapabilityLevel
from jamey_host.testing import RuntimeFactory

from .canary import CANARY, Calls, assert_not_in_telemetry

if TYPE_CHECKING:
    from jamey_agent_orchestration.testing import AgentServerFactory, ThrowawayCA

    from ..connector import Connector, MakeConnector

TASK = "CANARY-task-4b8e20"
PARAM = "CANARY-param-c61f9a"
USER_INFO = "CANARY-userinfo-0d73e5"
CANARIES = (CANARY, TASK, PARAM, USER_INFO)


def echo(request: TaskRequest) -> dict[str, Any]:
    return {"params": dict(request.params)}


# A handler named by the canary: a task text that is the canary succeeds (its name is not echoed
# by an error the result would carry, which the contract allows in telemetry).
HANDLERS = {TASK: echo, "echo": echo}


async def drive_secret_values(
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    jamey_runtime: RuntimeFactory,
    calls: Calls,
) -> None:
    connector = await make_connector(retries="2", breaker_threshold="1", breaker_cooldown="60")
    jamey = await jamey_agent_server(handlers=HANDLERS, name="jamey")
    a2a = await jamey_agent_server(handlers=HANDLERS, name="a2a", protocol="a2a")
    gone = await jamey_agent_server(name="gone")
    await gone.close()

    async def call(target: Connector, action: str, **params: str) -> Any:
        return await calls.run(target, action, **params)

    assert (await connector.register("jamey", jamey)).success
    assert (await connector.register_a2a("a2a", a2a)).success
    assert (await connector.register("gone", gone)).success
    with_user_info = jamey.url.replace("https://", f"https://user:{USER_INFO}@")
    refused = await connector.register("user-info", with_user_info, api_key="k")
    assert refused.errors == ["Security violation: Agent URLs must not contain user info"]

    secret_params = {"param_secret": PARAM, "param_other": f"x {PARAM} y"}
    for agent_id in ("jamey", "a2a"):
        sent = await call(connector, "send_task", agent_id=agent_id, task=TASK, **secret_params)
        assert sent.success, (agent_id, sent.errors)
    jamey.fail_next(503, times=1, headers={"Retry-After": "0"})
    retried = await call(connector, "send_task", agent_id="jamey", task=TASK, **secret_params)
    assert retried.metadata["attempts"] == "2"
    started = await call(connector, "send_task", agent_id="a2a", task="long_task", wait="false")
    task_id = started.metadata["task_id"]
    assert (await call(connector, "get_task", agent_id="a2a", task_id=task_id)).success
    assert (await call(connector, "cancel_task", agent_id="a2a", task_id=task_id)).success
    failed = await call(connector, "send_task", agent_id="gone", task=TASK, **secret_params)
    assert not failed.success  # and its breaker opened
    fast = await call(connector, "send_task", agent_id="gone", task=TASK, **secret_params)
    assert fast.errors[0].startswith("circuit open for agent gone")
    broadcast = await call(connector, "broadcast", task=TASK, **secret_params)
    assert broadcast.metadata["failed"] == "1"  # gone, refused by its open circuit
    assert (await call(connector, "unregister_agent", agent_id="gone")).success

    # The runtime's own denial: a runtime that does not grant agent orchestration.
    from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin

    settings = {"ca_bundle": str(jamey_agent_ca.ca_path), "allow_networks": "127.0.0.0/8"}
    ungranted = await jamey_runtime(
        AgentOrchestrationPlugin(),
        capabilities=[CapabilityLevel.READ_ONLY],
        settings={"agent_orchestration": settings},
    )
    denied = await ungranted.execute_connector(
        "agent_orchestration", {"action": "send_task", "task": TASK, **secret_params}
    )
    assert denied.errors[0].startswith("Capability")

    assert jamey.requests[0].body["task"] == TASK  # the canaries did go out
    assert any(
        r.body == {"task": TASK, "params": {"secret": PARAM, "other": f"x {PARAM} y"}}
        for r in jamey.requests
    )


async def test_no_canary_reaches_a_span_or_a_metric(
    otel: OtelCapture,
    make_connector: MakeConnector,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    jamey_runtime: RuntimeFactory,
) -> None:
    calls = Calls()
    await drive_secret_values(
        make_connector, jamey_agent_server, jamey_agent_ca, jamey_runtime, calls
    )

    # Every kind of span and metric was recorded: the scan below is over all of them.
    assert otel.metric_names() == {
        "jamey.connector.calls",
        "jamey.connector.duration",
        "jamey.agent.requests",
        "jamey.agent.circuit_open",
    }
    outcomes = {
        span.attributes["jamey.outcome"]
        for span in otel.spans()
        if span.name.startswith("execute_connector") and span.attributes
    }
    assert outcomes == {"success", "failure", "denied"}
    spans = [
        "execute_connector agent_orchestration",
        "invoke_agent jamey",
        "invoke_agent a2a",
        "fetch_agent_card a2a",
        "broadcast",
        "deliver_task jamey",
        "deliver_task gone",
        "POST /api/v1/tasks",
        "POST /a2a/jsonrpc",
        "GET /.well-known/agent-card.json",
    ]
    assert_not_in_telemetry(otel, *CANARIES, spans=spans)
