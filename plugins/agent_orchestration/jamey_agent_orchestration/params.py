"""The params of each action, parsed into typed records with the guide's error wording.

Each ``parse_*`` function raises :class:`~jamey_agent_orchestration.model.InvalidParams` naming
the param that is missing or malformed. The URL and the key of ``register_agent`` are judged
later, by the address policy and :class:`~jamey_agent_orchestration.model.ApiKey`, in the guide's
order (the URL first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, final

import attrs

from jamey_agent_orchestration.model import InvalidParams, text_problem
from jamey_host import parse_flag, split_list

__all__ = [
    "TASK_PARAM_PREFIX",
    "Broadcast",
    "RegisterAgent",
    "SendTask",
    "UnregisterAgent",
    "check_agent_id",
    "parse_broadcast",
    "parse_register",
    "parse_send",
    "parse_unregister",
    "task_params",
]

TASK_PARAM_PREFIX: Final = "param_"
_AGENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_CAPABILITY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


@attrs.frozen(kw_only=True)
class RegisterAgent:
    agent_id: str
    name: str
    url: str
    api_key: str = attrs.field(repr=False)
    capabilities: tuple[str, ...]
    replace: bool


# SendTask is built on every send: a plain slotted class, whose __init__ does not pay the
# object.__setattr__ call per field that a frozen attrs class does.
@final
class SendTask:
    """``task`` for one agent: by ``agent_id``, or the next one offering ``capability``."""

    __slots__ = ("agent_id", "capability", "params", "task")

    def __init__(
        self, *, task: str, agent_id: str | None, capability: str | None, params: dict[str, str]
    ) -> None:
        self.task = task
        self.agent_id = agent_id
        self.capability = capability
        self.params = params


@attrs.frozen(kw_only=True)
class Broadcast:
    task: str
    capability: str | None
    params: Mapping[str, str]


@attrs.frozen(kw_only=True)
class UnregisterAgent:
    agent_id: str


def _required(params: Mapping[str, str], key: str) -> str:
    value = params.get(key, "").strip()
    if not value:
        raise InvalidParams(f"Missing {key}")
    return value


def _agent_id(value: str) -> str:
    if not _AGENT_ID.fullmatch(value):
        raise InvalidParams(
            "Invalid agent_id: use 1 to 128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return value


def _capability(value: str) -> str:
    if not _CAPABILITY.fullmatch(value):
        raise InvalidParams(
            f"Invalid capability {value[:64]!r}: use letters, digits, '.', '_', '-'"
        )
    return value


def _capabilities(raw: str) -> tuple[str, ...]:
    try:
        items = split_list(raw)
    except ValueError as exc:
        raise InvalidParams(f"Invalid capabilities: {exc}") from None
    return tuple(dict.fromkeys(_capability(item) for item in items))


def _name(raw: str) -> str:
    # The name is stored and shown as text: a stray byte of argv (a lone surrogate) would make
    # the registry file refuse it, and a control character would garble a terminal.
    problem = text_problem(raw)
    if problem is not None:
        raise InvalidParams(f"Invalid name: it {problem}")
    return raw


def _flag(params: Mapping[str, str], key: str) -> bool:
    try:
        return parse_flag(params.get(key, ""))
    except ValueError as exc:
        raise InvalidParams(f"Invalid {key}: {exc}") from None


def task_params(params: Mapping[str, str]) -> dict[str, str]:
    """The ``param_<name>`` params, prefix stripped: what the agent receives."""
    return {
        key[len(TASK_PARAM_PREFIX) :]: value
        for key, value in params.items()
        if key.startswith(TASK_PARAM_PREFIX) and len(key) > len(TASK_PARAM_PREFIX)
    }


def parse_register(params: Mapping[str, str]) -> RegisterAgent:
    agent_id = _agent_id(_required(params, "agent_id"))
    name = _name(_required(params, "name"))
    url = _required(params, "url")
    return RegisterAgent(
        agent_id=agent_id,
        name=name,
        url=url,
        api_key=params.get("api_key", ""),
        capabilities=_capabilities(params.get("capabilities", "")),
        replace=_flag(params, "replace"),
    )


def parse_send(params: Mapping[str, str]) -> SendTask:
    task = _required(params, "task")
    agent_id = params.get("agent_id", "").strip() or None
    capability = params.get("capability", "").strip() or None
    if agent_id is None:
        if capability is None:
            raise InvalidParams("Missing agent_id")  # the guide's wording; docs explain capability
        return SendTask(
            task=task, agent_id=None, capability=_capability(capability), params=task_params(params)
        )
    if capability is not None:
        raise InvalidParams("Give agent_id or capability, not both")
    # The id's form is checked only if no agent has it (check_agent_id): every registered id
    # passed that check already.
    return SendTask(task=task, agent_id=agent_id, capability=None, params=task_params(params))


def check_agent_id(value: str) -> None:
    """Raise :class:`InvalidParams` if ``value`` is not a well-formed agent id."""
    _agent_id(value)


def parse_broadcast(params: Mapping[str, str]) -> Broadcast:
    capability = params.get("capability", "").strip() or None
    return Broadcast(
        task=_required(params, "task"),
        capability=None if capability is None else _capability(capability),
        params=task_params(params),
    )


def parse_unregister(params: Mapping[str, str]) -> UnregisterAgent:
    return UnregisterAgent(agent_id=_agent_id(_required(params, "agent_id")))
