"""The one redaction rule of the project, applied to everything that leaves a component."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
_LEAVES = frozenset({int, float, bool, type(None), bytes})

# Substrings, matched case-insensitively anywhere in a key's name (contract section 3).
_SECRET_KEY = re.compile(
    "api_key|apikey|token|secret|password|authorization|credential", re.IGNORECASE
)


@functools.lru_cache(maxsize=4096)  # the same few key names, on every call and event
def is_secret_key(name: str) -> bool:
    """Whether a value stored under ``name`` must never be shown."""
    return _SECRET_KEY.search(name) is not None


# The user-info of a URL ("https://user:password@host") is a credential wherever it appears.
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")


def redact_text(text: str) -> str:
    """``text`` with the user-info of any URL in it replaced: ``https://***@host``."""
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
        return {
            key: REDACTED
            if isinstance(key, str) and is_secret_key(key)
            else (item if type(item) in _LEAVES else redact(item))  # str goes through redact
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item) for item in value)
    return value
