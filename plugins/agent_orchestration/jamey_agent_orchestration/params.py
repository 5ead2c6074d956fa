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

from jamey_agent_orchestration.model import NOT_UTF8, AgentProtocol, InvalidParams, text_problem
from jamey_agent_orchestration.net.a2a_wire import MAX_ITEMS, checked_id
from jamey_agent_orchestration.net.client import SendOptions
from jamey_host import parse_flag, split_list

__all__ = [
    "A2A_SEND_PARAMS",
    "CAPABILITY",
    "TASK_PARAM_PREFIX",
    "Broadcast",
    "CancelTask",
    "GetTask",
    "RegisterAgent",
    "SendTask",
    "UnregisterAgent",
    "check_agent_id",
    "parse_broadcast",
    "parse_cancel_task",
    "parse_get_task",
    "parse_register",
    "parse_send",
    "parse_unregister",
    "task_params",
]

TASK_PARAM_PREFIX: Final = "param_"
_PREFIX_LENGTH: Final = len(TASK_PARAM_PREFIX)
_AGENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: What a capability may be called: a name a card's skill id or tag must fit to become one.
CAPABILITY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


#: The params of ``send_task`` that only A2A agents take.
A2A_SEND_PARAMS: Final = ("context_id", "task_id", "wait")
_PROTOCOLS: Final[tuple[AgentProtocol, ...]] = ("jamey", "a2a")


@attrs.frozen(kw_only=True)
class RegisterAgent:
    """``name`` and ``capabilities`` are ``None`` when not given (an A2A card then has them)."""

    agent_id: str
    name: str | None
    url: str
    api_key: str = attrs.field(repr=False)
    capabilities: tuple[str, ...] | None
    replace: bool
    protocol: AgentProtocol


# SendTask is built on every send: a plain slotted class, whose __init__ does not pay the
# object.__setattr__ call per field that a frozen attrs class does.
@final
class SendTask:
    """``task`` for one agent: by ``agent_id``, or the next one offering ``capability``."""

    __slots__ = ("a2a_given", "agent_id", "capability", "options", "params", "task")

    def __init__(
        self,
        *,
        task: str,
        agent_id: str | None,
        capability: str | None,
        params: dict[str, str],
        options: SendOptions | None = None,
        a2a_given: tuple[str, ...] = (),
    ) -> None:
        self.task = task
        self.agent_id = agent_id
        self.capability = capability
        self.params = params
        #: A2A's options (``None``: none given), and which of A2A's params were given: a
        #: ``jamey`` agent refuses a task that asks for what it cannot do.
        self.options = options
        self.a2a_given = a2a_given


@attrs.frozen(kw_only=True)
class Broadcast:
    task: str
    capability: str | None
    params: Mapping[str, str]


@attrs.frozen(kw_only=True)
class UnregisterAgent:
    agent_id: str


@attrs.frozen(kw_only=True)
class GetTask:
    agent_id: str
    task_id: str
    history_length: int | None


@attrs.frozen(kw_only=True)
class CancelTask:
    agent_id: str
    task_id: str


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
    if not CAPABILITY.fullmatch(value):
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


def _utf8(value: str, what: str) -> str:
    """``value``, if it can go to an agent as UTF-8: not a stray byte of argv (a lone surrogate)."""
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidParams(f"Invalid {what}: it {NOT_UTF8}") from None
    return value


def task_params(params: Mapping[str, str]) -> dict[str, str]:
    """The ``param_<name>`` params, prefix stripped: what the agent receives."""
    found: dict[str, str] = {}
    for key, value in params.items():
        if key.startswith(TASK_PARAM_PREFIX) and key != TASK_PARAM_PREFIX:
            name = key[_PREFIX_LENGTH:]
            if not (name.isascii() and value.isascii()):
                _utf8(value, f"{TASK_PARAM_PREFIX}{_utf8(name, 'param name')}")
            found[name] = value
    return found


def _protocol(params: Mapping[str, str]) -> AgentProtocol:
    raw = params.get("protocol", "").strip()
    if not raw:
        return "jamey"
    for protocol in _PROTOCOLS:
        if raw.lower() == protocol:
            return protocol
    raise InvalidParams(f"Invalid protocol {raw[:32]!r}: use jamey or a2a")


def parse_register(params: Mapping[str, str]) -> RegisterAgent:
    agent_id = _agent_id(_required(params, "agent_id"))
    protocol = _protocol(params)
    # An A2A agent's card names it; a jamey agent has no card, so its name is required.
    name = params.get("name", "").strip() if protocol == "a2a" else _required(params, "name")
    url = _required(params, "url")
    capabilities = params.get("capabilities", "")
    return RegisterAgent(
        agent_id=agent_id,
        name=_name(name) if name else None,
        url=url,
        api_key=params.get("api_key", ""),
        capabilities=_capabilities(capabilities) if capabilities.strip() else None,
        replace=_flag(params, "replace"),
        protocol=protocol,
    )


def _a2a_id(params: Mapping[str, str], key: str) -> str | None:
    value = params.get(key, "")
    if not value:
        return None
    try:
        return checked_id(value, key)
    except ValueError as exc:
        raise InvalidParams(str(exc)) from None


def _send_options(params: Mapping[str, str]) -> tuple[SendOptions | None, tuple[str, ...]]:
    if params.keys().isdisjoint(A2A_SEND_PARAMS):  # the usual task: none of them
        return None, ()
    given = tuple(key for key in A2A_SEND_PARAMS if params.get(key))
    if not given:
        return None, ()
    options = SendOptions(
        context_id=_a2a_id(params, "context_id"),
        task_id=_a2a_id(params, "task_id"),
        wait=_flag(params, "wait") if params.get("wait", "").strip() else True,
    )
    return options, given


def parse_send(params: Mapping[str, str]) -> SendTask:
    task = _utf8(_required(params, "task"), "task")
    agent_id = params.get("agent_id", "").strip() or None
    capability = params.get("capability", "").strip() or None
    options, a2a_given = _send_options(params)
    if agent_id is None:
        if capability is None:
            raise InvalidParams("Missing agent_id")  # the guide's wording; docs explain capability
        return SendTask(
            task=task,
            agent_id=None,
            capability=_capability(capability),
            params=task_params(params),
            options=options,
            a2a_given=a2a_given,
        )
    if capability is not None:
        raise InvalidParams("Give agent_id or capability, not both")
    # The id's form is checked only if no agent has it (check_agent_id): every registered id
    # passed that check already.
    return SendTask(
        task=task,
        agent_id=agent_id,
        capability=None,
        params=task_params(params),
        options=options,
        a2a_given=a2a_given,
    )


def check_agent_id(value: str) -> None:
    """Raise :class:`InvalidParams` if ``value`` is not a well-formed agent id."""
    _agent_id(value)


def parse_broadcast(params: Mapping[str, str]) -> Broadcast:
    capability = params.get("capability", "").strip() or None
    return Broadcast(
        task=_utf8(_required(params, "task"), "task"),
        capability=None if capability is None else _capability(capability),
        params=task_params(params),
    )


def parse_unregister(params: Mapping[str, str]) -> UnregisterAgent:
    return UnregisterAgent(agent_id=_agent_id(_required(params, "agent_id")))


def _task_id(params: Mapping[str, str]) -> str:
    _required(params, "task_id")
    task_id = _a2a_id(params, "task_id")
    assert task_id is not None
    return task_id


def _history_length(params: Mapping[str, str]) -> int | None:
    raw = params.get("history_length", "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ITEMS:
        raise InvalidParams(
            f"Invalid history_length {raw[:32]!r}: use a whole number from 0 to {MAX_ITEMS}"
        )
    return int(raw)


def parse_get_task(params: Mapping[str, str]) -> GetTask:
    return GetTask(
        agent_id=_required(params, "agent_id"),
        task_id=_task_id(params),
        history_length=_history_length(params),
    )


def parse_cancel_task(params: Mapping[str, str]) -> CancelTask:
    return CancelTask(agent_id=_required(params, "agent_id"), task_id=_task_id(params))
