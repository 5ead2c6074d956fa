"""The agent a ``register_agent`` call describes: from its params, and for A2A from its card too.

A ``jamey`` agent is its params. An A2A agent is what its agent card says, fetched from
``{url}/.well-known/agent-card.json`` through the connector's guarded transport
(:meth:`~jamey_agent_orchestration.net.a2a.A2AClient.fetch_card`):

1. the card's first interface with a ``JSONRPC`` or ``HTTP+JSON`` binding of version 1.x is the
   one used; its URL must be ``https`` and pass the address policy, whatever the card's own URL
   was (a refusal is ``Security violation:``; the next interface is not tried);
2. the card's security scheme decides how the key is sent (``Authorization: Bearer``, or the
   header of an ``apiKeySecurityScheme``);
3. ``name`` defaults to the card's, ``capabilities`` to each skill's id then its tags, in card
   order (the first of any duplicate; a tag that cannot be a capability name is left out, with a
   warning).

Any problem raises before anything is stored:
:class:`~jamey_agent_orchestration.model.AgentCardError`,
:class:`~jamey_agent_orchestration.model.SecurityViolation` or
:class:`~jamey_agent_orchestration.model.InvalidParams`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, final

import attrs
import yarl

from jamey_agent_orchestration.model import (
    Agent,
    AgentCardError,
    ApiKey,
    InvalidParams,
    SecurityViolation,
)
from jamey_agent_orchestration.net.a2a import A2AClient
from jamey_agent_orchestration.net.a2a_wire import (
    InsecureInterface,
    InvalidA2A,
    choose_interface,
    clean_text,
    default_capabilities,
    key_placement,
)
from jamey_agent_orchestration.net.address_policy import validate_agent_url
from jamey_agent_orchestration.params import CAPABILITY, RegisterAgent
from jamey_agent_orchestration.settings import Network

__all__ = ["Registration", "describe_agent"]

_NAME_CHARS: Final = 128
_SHOWN_TAGS: Final = 5
_NOT_STARTED: Final = "Failed to fetch agent card: the connector is not started"


@final
@attrs.frozen(kw_only=True)
class Registration:
    """The agent to store, and what the caller should know about it."""

    agent: Agent
    warnings: tuple[str, ...] = ()


async def describe_agent(
    request: RegisterAgent,
    *,
    url: yarl.URL,
    api_key: ApiKey,
    cards: A2AClient | None,
    allow_networks: Sequence[Network],
) -> Registration:
    """The agent ``request`` registers; ``url`` has passed the address policy already."""
    if request.protocol == "jamey":
        assert request.name is not None  # required for jamey by parse_register
        agent = Agent(
            id=request.agent_id,
            name=request.name,
            url=url,
            api_key=api_key,
            capabilities=request.capabilities or (),
        )
        return Registration(agent=agent)
    if cards is None:
        raise AgentCardError(_NOT_STARTED)
    card = await cards.fetch_card(url, agent_id=request.agent_id, agent_name=request.name)
    try:
        interface = choose_interface(card)
        placement = key_placement(card)
    except InsecureInterface as exc:
        raise SecurityViolation(str(exc).removeprefix("Security violation: ")) from None
    except InvalidA2A as exc:
        raise AgentCardError(str(exc)) from None
    endpoint = validate_agent_url(interface.url, allow_networks)
    warnings: list[str] = []
    if endpoint.origin() != url.origin():
        warnings.append(f"The agent card sends tasks to another origin: {endpoint.origin()}")
    capabilities = request.capabilities
    if capabilities is None:
        capabilities, skipped = _card_capabilities(default_capabilities(card))
        if skipped:
            shown = ", ".join(repr(clean_text(tag, 40)) for tag in skipped[:_SHOWN_TAGS])
            more = f" and {len(skipped) - _SHOWN_TAGS} more" if len(skipped) > _SHOWN_TAGS else ""
            warnings.append(
                f"Skill ids and tags that cannot be capabilities were left out: {shown}{more}"
            )
    agent = Agent(
        id=request.agent_id,
        name=request.name or _card_name(card.name),
        url=url,
        api_key=api_key,
        capabilities=capabilities,
        protocol="a2a",
        endpoint=endpoint,
        binding="JSONRPC" if interface.protocol_binding == "JSONRPC" else "HTTP+JSON",
        key_header=placement.header,
    )
    return Registration(agent=agent, warnings=tuple(warnings))


def _card_name(name: str) -> str:
    cleaned = clean_text(name, _NAME_CHARS)
    if not cleaned:
        raise InvalidParams("Missing name: the agent card has no name to use; give one")
    return cleaned


def _card_capabilities(names: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """The card's skill ids and tags that can be capabilities, and those that cannot."""
    kept: list[str] = []
    skipped: list[str] = []
    for name in names:
        (kept if CAPABILITY.fullmatch(name) else skipped).append(name)
    return tuple(kept), skipped
