"""The params of each action, parsed into typed requests with the guide's error wording."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

TASK_PARAM_PREFIX = "param_"
_AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_CAPABILITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


class InvalidParams(ValueError):
    """A param that is missing or malformed; the message names it and never echoes a key."""


@attrs.frozen
class RegisterAgent:
    agent_id: str
    name: str
    url: str
    api_key: str = attrs.field(repr=False)  # checked after the URL, in the guide's order
    capabilities: tuple[str, ...]
    replace: bool


@attrs.define  # not frozen: built on every send, and frozen fields cost a call each to set
class SendTask:
    task: str
    agent_id: str | None
    capability: str | None
    params: Mapping[str, str]


@attrs.frozen
class Broadcast:
    task: str
    capability: str | None
    params: Mapping[str, str]


@attrs.frozen
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
    items = [item.strip() for item in raw.split(",")]
    if raw.strip() and any(not item for item in items):
        raise InvalidParams("Invalid capabilities: empty item in the comma-separated list")
    return tuple(dict.fromkeys(_capability(item) for item in items if item))


def _flag(params: Mapping[str, str], key: str) -> bool:
    value = params.get(key, "false").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise InvalidParams(f"Invalid {key}: expected true or false")


def task_params(params: Mapping[str, str]) -> dict[str, str]:
    """The ``param_<name>`` params, prefix stripped: what the agent receives."""
    return {
        key[len(TASK_PARAM_PREFIX) :]: value
        for key, value in params.items()
        if key.startswith(TASK_PARAM_PREFIX) and len(key) > len(TASK_PARAM_PREFIX)
    }


def parse_register(params: Mapping[str, str]) -> RegisterAgent:
    agent_id = _agent_id(_required(params, "agent_id"))
    name = _required(params, "name")
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
    # SendTask is built positionally (task, agent_id, capability, params): the hot path.
    if agent_id is None:
        if capability is None:
            raise InvalidParams("Missing agent_id")  # the guide's wording; docs explain capability
        return SendTask(task, None, _capability(capability), task_params(params))
    if capability is not None:
        raise InvalidParams("Give agent_id or capability, not both")
    # The id's form is checked only if no agent has it (check_agent_id): every registered id
    # passed that check already, and a regular expression on every send is not free.
    return SendTask(task, agent_id, None, task_params(params))


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
