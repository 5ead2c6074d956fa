"""The one redaction rule of the project, applied to everything that leaves a component."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "***"
_LEAVES = frozenset({int, float, bool, type(None), bytes})

# Substrings, matched case-insensitively anywhere in a key's name (contract section 3).
_SECRET_KEY = re.compile(
    "api_key|apikey|token|secret|password|authorization|credential", re.IGNORECASE
)


# Key names already found harmless: the same few names come on every call and event, and a set
# lookup is all they then cost. Bounded, because callers choose the names.
_HARMLESS: set[str] = set()
_HARMLESS_MAX = 4096


def is_secret_key(name: str) -> bool:
    """Whether a value stored under ``name`` must never be shown."""
    if name in _HARMLESS:
        return False
    if _SECRET_KEY.search(name) is not None:
        return True
    if len(_HARMLESS) < _HARMLESS_MAX:
        _HARMLESS.add(name)
    return False


def has_secret_key(mapping: Mapping[str, Any]) -> bool:
    """Whether any key of ``mapping`` is a secret's name (see :func:`is_secret_key`)."""
    # The usual answer, every key already known harmless, takes one set operation.
    if _HARMLESS.issuperset(mapping):
        return False
    return any(isinstance(key, str) and is_secret_key(key) for key in mapping)


# The user-info of a URL ("https://user:password@host") is a credential wherever it appears.
# It ends at the URL's last "@", as URL parsers read it: a password may hold "/", "@", "?", "#"
# or a space (base64 keys hold "/"), so none of those ends it. Only what a URL written in text
# cannot hold does: a line break or tab, a quote, angle brackets. Greedy, so the last "@" wins;
# a path with an "@" in it ("https://host/@team") is redacted too, which loses no secret.
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\t\n\r\f\v\"'<>`]*@")


def redact_text(text: str) -> str:
    """``text`` with the user-info of any URL in it replaced: ``https://***@host``.

    >>> redact_text("https://bot:KEY/AbC+dEf==@agent.example.com/")
    'https://***@agent.example.com/'
    """
    if "@" in text and "://" in text:
        return _URL_USERINFO.sub(r"\1***@", text)
    return text


def redact(value: Any) -> Any:
    """Return a copy of ``value`` in which every secret-looking key's value is ``"***"``.

    Mappings become ``dict``, lists and tuples keep their type, and nesting is followed to any
    depth. In strings, the user-info of a URL is replaced too (:func:`redact_text`). Other
    values are returned as they are.

    >>> redact({"user": "alice", "headers": {"Authorization": "Bearer x"}, "items": [{"token": 1}]})
    {'user': 'alice', 'headers': {'Authorization': '***'}, 'items': [{'token': '***'}]}
    >>> redact({"url": "https://bob:hunter2@agent.example/api"})
    {'url': 'https://***@agent.example/api'}
    """
    kind = type(value)
    if kind is str:
        return redact_text(value)
    if kind in _LEAVES:  # most other values: skip the (slow) ABC check below
        return value
    if kind is dict or isinstance(value, Mapping):
        return _redact_mapping(value)
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item) for item in value)
    return value


def _redact_mapping(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    # redact() unrolled for the values met most (str, numbers), which need no call of their own:
    # every audit event and every call's params pass through here.
    redacted = {}
    for key, item in mapping.items():
        kind = type(item)
        if key not in _HARMLESS and isinstance(key, str) and is_secret_key(key):
            item = REDACTED
        elif kind is str:
            if "@" in item:
                item = redact_text(item)
        elif kind not in _LEAVES:
            item = redact(item)
        redacted[key] = item
    return redacted


def secret_values(
    params: Mapping[str, str], declared_secret: Callable[[str], bool] | None = None
) -> tuple[str, ...]:
    """The values of ``params`` that must never be shown, longest first.

    A value is secret when its param's name looks like a secret's (:func:`is_secret_key`), or
    ``declared_secret(name)`` says so (a param an action spec declares ``secret``). Empty values
    hide nothing and are left out.
    """
    if declared_secret is None and not has_secret_key(params):
        return ()
    values = {
        value
        for key, value in params.items()
        if value
        and isinstance(value, str)
        and (is_secret_key(key) or (declared_secret is not None and declared_secret(key)))
    }
    return tuple(sorted(values, key=len, reverse=True))


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """A copy of ``value`` in which each of ``secrets`` is replaced by ``"***"`` in every string.

    For values known to be secret whatever name they travel under (see :func:`secret_values`),
    nested to any depth as :func:`redact` is; ``secrets`` longest first, so that no part of a
    longer one is left behind by a shorter one inside it.

    >>> scrub({"note": "key k-123 refused", "n": 1}, ("k-123",))
    {'note': 'key *** refused', 'n': 1}
    """
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {key: scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(scrub(item, secrets) for item in value)
    return value
