"""The agent connector's action specs as a user meets them (``jamey describe``, ``jamey run``), what
its first call says it created, and URL credentials kept out of its audit trail."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from jamey_cli import clean_env, jamey

from jamey_agent_orchestration.actions import SPEC
from jamey_agent_orchestration.plugin import AgentOrchestrationPlugin
from jamey_host import AUDIT_LOGGER_NAME
from jamey_host.testing import AuditEventList, RuntimeFactory


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", plugins="agent_orchestration")


def test_the_connector_declares_its_actions_with_the_contracts_required_params() -> None:
    required = {action.name: action.required for action in SPEC.action_specs}
    assert required == {
        "register_agent": ("agent_id", "url", "api_key"),
        "send_task": ("task",),
        "broadcast": ("task",),
        "list_agents": (),
        "unregister_agent": ("agent_id",),
        "get_task": ("agent_id", "task_id"),
        "cancel_task": ("agent_id", "task_id"),
    }
    assert [
        (action.name, param.name)
        for action in SPEC.action_specs
        for param in action.params
        if param.secret
    ] == [("register_agent", "api_key")]
    assert all(action.description for action in SPEC.action_specs)
    assert all(param.description for action in SPEC.action_specs for param in action.params)


def test_describe_shows_every_action_and_param(env: dict[str, str]) -> None:
    done = jamey("describe", "agent_orchestration", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for action in SPEC.action_specs:
        assert any(line.startswith(f"{action.name}: {action.description}") for line in lines)
        for param in action.params:
            assert any(
                line.startswith(f"  {param.name} ") and line.endswith(param.description)
                for line in lines
            ), param.name
    assert "  api_key       required, secret  " in done.stdout
    described = json.loads(jamey("describe", "agent_orchestration", "--json", env=env).stdout)
    assert [action["name"] for action in described["actions"]] == list(SPEC.actions)
    assert described["actions"] == [action.to_dict() for action in SPEC.action_specs]
    (listed,) = json.loads(jamey("connectors", "--json", env=env).stdout)
    assert listed["actions"] == described["actions"]


def test_a_first_read_only_call_says_what_it_created_and_only_the_first(
    env: dict[str, str],
) -> None:
    home = Path(env["JAMEY_HOME"])
    first = jamey("run", "agent_orchestration", "action=list_agents", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "[]\n"
    assert first.stderr.splitlines() == [
        "jamey: warning: agent_orchestration.key_file_created: master key for API keys at rest "
        f"created; back it up, or set JAMEY_SECRET_KEY (path: {home / 'secret.key'})",
        f"jamey: created agents.db, secret.key in {home} (the state directory; JAMEY_HOME "
        "chooses another)",
    ]
    again = jamey("run", "agent_orchestration", "action=list_agents", env=env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "[]\n", "")


def test_with_a_secret_key_only_the_registry_is_created(env: dict[str, str]) -> None:
    env["JAMEY_SECRET_KEY"] = "q" * 43 + "="
    first = jamey("run", "agent_orchestration", "action=list_agents", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr == (
        f"jamey: created agents.db in {env['JAMEY_HOME']} (the state directory; JAMEY_HOME "
        "chooses another)\n"
    )


def test_register_agent_reports_every_missing_param_at_once(env: dict[str, str]) -> None:
    done = jamey("run", "agent_orchestration", "action=register_agent", "--json", env=env)
    assert done.returncode == 1
    assert json.loads(done.stdout)["errors"] == [
        "Missing agent_id",
        "Missing url",
        "Missing api_key",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://bot:KEY/AbC+dEf==@agent.example.com/",
        "https://bot:KEY AbC+dEf==@agent.example.com/",
        "https://bot:KEY@AbC+dEf==@agent.example.com/",
    ],
)
async def test_a_urls_credential_never_reaches_the_audit_trail(
    url: str,
    jamey_runtime: RuntimeFactory,
    jamey_audit_events: AuditEventList,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14 item 2: the registration is refused, and its trail keeps no part of the key."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    runtime = await jamey_runtime(AgentOrchestrationPlugin)
    params = {"action": "register_agent", "agent_id": "a", "name": "n", "api_key": "k", "url": url}
    result = await runtime.execute_connector("agent_orchestration", params)
    assert not result.success
    assert result.errors[0].startswith("Security violation:")
    (execute,) = jamey_audit_events.named("connector.execute")
    assert execute.details["params"]["url"] == "https://***@agent.example.com/"
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert lines
    for text in [*(event.to_json() for event in jamey_audit_events), *lines, str(result)]:
        assert "KEY" not in text
        assert "AbC" not in text


@pytest.mark.parametrize(
    "command", [["plugins"], ["connectors", "--json"], ["describe", "agent_orchestration"]]
)
def test_a_first_listing_command_says_what_the_plugins_created(
    env: dict[str, str], command: list[str]
) -> None:
    # The plugins start (and create their files) for a command that only lists them too.
    home = Path(env["JAMEY_HOME"])
    env["JAMEY_SECRET_KEY"] = "q" * 43 + "="
    first = jamey(*command, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr == (
        f"jamey: created agents.db in {home} (the state directory; JAMEY_HOME chooses another)\n"
    )
    again = jamey(*command, env=env)
    assert (again.returncode, again.stderr) == (0, "")
