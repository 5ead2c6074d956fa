"""A user's mistake on the ``jamey`` command line is a short message and an exit status, never a
traceback (issue 13 item 5). Each mistake is made as a user would make it, in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from jamey_cli import JAMEY, clean_env

AGENT = "agent_orchestration"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = clean_env(tmp_path / "home", plugins=f"example_echo,{AGENT}")
    environ["JAMEY_SECRET_KEY"] = "q" * 43 + "="  # 32 bytes in url-safe base64
    return environ


A_FILE = "{tmp}/a-file"

#: (what the user typed, its environment's changes (None: unset), exit status, a fragment that
#: the message must hold)
MISTAKES: list[tuple[list[str | bytes], dict[str, str | None], int, str]] = [
    (["--bogus"], {}, 2, "unrecognized arguments: --bogus"),
    (["frobnicate"], {}, 2, "invalid choice: 'frobnicate'"),
    (["run"], {}, 2, "required: connector"),
    (["run", "echo", "badparam"], {}, 2, "expected KEY=VALUE, got 'badparam'"),
    (["run", "echo", "=value"], {}, 2, "a param has nothing before its '='"),
    (["run", "echo", "action=a", "action=b"], {}, 2, "param 'action' is given twice"),
    (["run", "nosuch", "action=x"], {}, 1, "Connector not found: nosuch"),
    ([b"run", b"\xff", b"action=x"], {}, 1, "Connector not found: \\udcff"),
    (["describe"], {}, 2, "required: connector"),
    (["describe", "nosuch"], {}, 1, "Connector not found: nosuch"),
    (["run", AGENT], {}, 1, "Missing 'action' parameter"),
    (["run", AGENT, "action=dance"], {}, 1, "Unknown action: dance"),
    (["run", AGENT, "action=register_agent", "name=n"], {}, 1, "Missing agent_id"),
    (
        [
            "run",
            AGENT,
            "action=register_agent",
            "agent_id=a",
            "name=n",
            "url=http://a.example",
            "api_key=k",
        ],
        {},
        1,
        "Security violation: Agent URLs must use HTTPS. Got: http",
    ),
    (["run", AGENT, "action=send_task", "task=t", "agent_id=nope"], {}, 1, "Agent not found: nope"),
    (["plugins"], {"JAMEY_CAPABILITIES": "root"}, 2, "JAMEY_CAPABILITIES: unknown capability"),
    (["plugins"], {"JAMEY_STRICT_PLUGINS": "maybe"}, 2, "JAMEY_STRICT_PLUGINS"),
    (["plugins"], {"JAMEY_LOAD_PLUGINS": "no such!"}, 2, "is not a plugin entry-point name"),
    (["plugins"], {"JAMEY_ECHO__": "x"}, 2, "named JAMEY_<CONNECTOR_ID>__<KEY>"),
    (["connectors"], {"JAMEY_HOME": A_FILE}, 2, "is a file, not a directory"),
    (["run", AGENT, "action=list_agents"], {"JAMEY_HOME": A_FILE + "/x"}, 2, "is a file"),
    (
        ["run", AGENT, "action=list_agents"],
        {"JAMEY_AGENT_ORCHESTRATION__TIMEOUT": "abc"},
        1,
        "Connector unavailable: agent_orchestration: Invalid setting timeout",
    ),
    (
        ["run", AGENT, "action=list_agents"],
        {"JAMEY_AGENT_ORCHESTRATION__CA_BUNDLE": "{tmp}/nope.pem"},
        1,
        "Connector unavailable: agent_orchestration:",
    ),
    (
        ["run", AGENT, "action=list_agents"],
        {"JAMEY_AGENT_ORCHESTRATION__REGISTRY": A_FILE},
        1,
        "is not a jamey agent registry",
    ),
    (
        ["plugins"],
        {"JAMEY_STRICT_PLUGINS": "1", "JAMEY_LOAD_PLUGINS": "broken_import"},
        1,
        "broken_import",
    ),
    (["agents-rotate-key", "--registry", "{tmp}/none.db"], {}, 1, "no agent registry at"),
    (["agents-rotate-key", "--registry", A_FILE], {}, 2, "pass --new-key-env VAR"),
    (["agents-rotate-key", "--registry", A_FILE], {"JAMEY_SECRET_KEY": None}, 1, "No master key"),
    (["demo", "--bogus"], {}, 2, "--bogus"),
]


@pytest.mark.parametrize(
    ("argv", "extra", "status", "fragment"),
    MISTAKES,
    ids=[" ".join(str(arg) for arg in m[0]) + "".join(f" {k}" for k in m[1]) for m in MISTAKES],
)
def test_a_mistake_is_a_short_message_never_a_traceback(
    env: dict[str, str],
    tmp_path: Path,
    argv: list[str | bytes],
    extra: dict[str, str | None],
    status: int,
    fragment: str,
) -> None:
    (tmp_path / "a-file").write_text("not a directory, nor a registry\n")
    for key, value in extra.items():
        if value is None:
            del env[key]
        else:
            env[key] = value.format(tmp=tmp_path)
    args = [arg.format(tmp=tmp_path) if isinstance(arg, str) else arg for arg in argv]
    done = subprocess.run([JAMEY, *args], env=env, capture_output=True, timeout=60, check=False)
    out = done.stdout.decode(errors="replace")
    err = done.stderr.decode(errors="replace")
    assert "Traceback" not in out + err
    assert done.returncode == status, err
    assert fragment in err
    # argparse prints its usage before the error; jamey run its notices (the state it created)
    # and a hint: the message itself is a line or a few
    notices = ("usage:", " ", "jamey: created ", "jamey: warning: ", "hint: ")
    message = [line for line in err.splitlines() if not line.startswith(notices)]
    assert 1 <= len(message) <= 3, err
