"""What the connector knows about an agent: the :class:`Agent`, its :class:`ApiKey`, and the
errors whose kind decides how a refusal is reported.

The ``str`` of every error here is a complete message, safe to show to the caller: it names what
was wrong and never holds a key.
"""

from __future__ import annotations

import functools
import hmac
import re
from typing import Any, Final, Literal, NoReturn, TypeAlias, final

import attrs
import yarl

__all__ = [
    "NOT_UTF8",
    "A2ABinding",
    "Agent",
    "AgentCardError",
    "AgentProtocol",
    "ApiKey",
    "InvalidParams",
    "SecurityViolation",
    "new_key_problem",
    "text_problem",
]

#: The wire protocol an agent speaks: the guide's own (``jamey``) or A2A v1.0.
AgentProtocol: TypeAlias = Literal["jamey", "a2a"]
#: The A2A protocol binding of the interface chosen from an agent card.
A2ABinding: TypeAlias = Literal["JSONRPC", "HTTP+JSON"]


class SecurityViolation(ValueError):
    """A URL, address or key the connector refuses. Its message starts ``Security violation:``.

    Refusals of this kind are audited with the outcome ``denied``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"Security violation: {reason}")
        self.reason = reason


class InvalidParams(ValueError):
    """A param that is missing or malformed; the message names it and never echoes a key."""


class AgentCardError(ValueError):
    """An A2A agent card that could not be fetched, or is not valid; nothing was registered.

    The message starts ``Failed to fetch agent card:`` or ``Invalid agent card:`` and says why.
    """


# Control characters (C0, DEL, C1: Unicode's category Cc) and surrogates, which UTF-8 cannot
# encode alone: Python makes one of a stray byte in argv (surrogateescape).
_NOT_SENDABLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: What is said of text holding such a surrogate, wherever it is refused.
NOT_UTF8: Final = "is not valid text (it holds a byte that is not UTF-8)"


# What a new key may not hold: with a quote, a backslash, a space or JSON's punctuation, JSON text
# (ours, or a host's written with other separators) could spell the key across its own tokens,
# '"x a":"b y"' for the key 'a":"b', where no string holds it and no scrub can reach it; "*" would
# let the mask "***" spell it.
_OUT_OF_SCRUB: Final = re.compile(r'[\s"\\{}\[\],:*]')


def new_key_problem(value: str) -> str | None:
    """Why ``value`` cannot be registered as a new key (beyond :class:`ApiKey`'s own rules)."""
    if _OUT_OF_SCRUB.search(value) is not None:
        return 'holds a space or one of " \\ { } [ ] , : *'
    return None


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent in a header or stored as text, or ``None`` if it can."""
    found = _NOT_SENDABLE.search(value)
    if found is None:
        return None
    if "\ud800" <= found.group() <= "\udfff":
        return NOT_UTF8
    return "contains a control character (a newline, a tab, ...)"


@final
class ApiKey:
    """An agent's API key. Only :meth:`reveal` gives the value back.

    ``str``, ``repr`` and ``format`` show ``***``; ``json``, ``pickle``, ``copy`` and cattrs cannot
    turn it into its value, because it is not an attrs class, a mapping or a string. A key that is
    empty, or that could not be sent in an ``Authorization`` header, is refused with
    :class:`SecurityViolation` naming the problem, never the key.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("ApiKey takes a str")
        if not value.strip():
            raise SecurityViolation("API key cannot be empty")
        problem = text_problem(value)
        if problem is not None:
            raise SecurityViolation(f"API key {problem}")
        self._value = value

    def reveal(self) -> str:
        """The key itself: only for the ``Authorization`` header and the encrypted store."""
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiKey):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("An ApiKey cannot be pickled")


def _as_url(value: str | yarl.URL) -> yarl.URL:
    return value if isinstance(value, yarl.URL) else yarl.URL(value)


def _as_optional_url(value: str | yarl.URL | None) -> yarl.URL | None:
    return None if value is None else _as_url(value)


@attrs.frozen(kw_only=True)
class Agent:
    """One remote agent, as the registry keeps it. No repr or serializer shows its key.

    ``url`` is parsed once, when the agent is registered or read back from a store: the address
    policy judged it at registration, and every delivery derives what it needs from it (the
    endpoint, the origin it audits) without parsing text again.
    """

    id: str
    name: str
    url: yarl.URL = attrs.field(converter=_as_url)
    api_key: ApiKey = attrs.field(repr=False)
    capabilities: tuple[str, ...] = ()
    protocol: AgentProtocol = "jamey"
    #: A2A only: the interface chosen from the agent card (its URL, which passed the address
    #: policy, and its binding), and the header the key goes in (``None``: ``Authorization:
    #: Bearer``). ``url`` stays the base URL given at registration.
    endpoint: yarl.URL | None = attrs.field(default=None, converter=_as_optional_url)
    binding: A2ABinding | None = None
    key_header: str | None = None

    def offers(self, capability: str) -> bool:
        return capability in self.capabilities

    @functools.cached_property
    def endpoint_text(self) -> str | None:
        """``endpoint`` as text, which every A2A request is built from: written out once."""
        return None if self.endpoint is None else str(self.endpoint)

    @property
    def origin(self) -> str:
        """``scheme://host:port`` only: what audit events may say about where a task went."""
        return str(self.url.origin())

    def public(self) -> dict[str, Any]:
        """What ``list_agents`` shows: never the key."""
        return {
            "id": self.id,
            "name": self.name,
            "url": str(self.url),
            "capabilities": list(self.capabilities),
            "protocol": self.protocol,
        }
