"""Reading the text values of settings, variables and params: one home for lists and flags.

Host and connectors alike read comma-separated lists and true/false flags from strings (environment
variables, ``connector_settings``, call params). These two functions are the one way to do it, so
every place accepts the same spellings and says the same thing when a value is wrong. Both raise
``ValueError`` with a message that names what was wrong but not where it came from; the caller
prefixes the variable, setting or param name.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FLAG_SPELLINGS", "parse_flag", "split_list"]

_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off")

#: What :func:`parse_flag` accepts, for messages and docs.
FLAG_SPELLINGS: Final = ", ".join(_TRUE + _FALSE)


def parse_flag(raw: str, *, default: bool = False) -> bool:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case, spaces ignored).

    An empty value gives ``default`` (an empty setting means unset)::

        parse_flag("Yes")  # True
        parse_flag("")  # False
        parse_flag("maybe")  # ValueError: expected one of 1, true, yes, on, 0, ...; got 'maybe'
    """
    value = raw.strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"expected one of {FLAG_SPELLINGS}; got {raw[:64]!r}")


def split_list(raw: str) -> list[str]:
    """The items of a comma-separated list, stripped; an empty (or blank) value has none.

    An empty item between commas is a mistake worth naming, not something to skip::

        split_list(" a, b ")  # ['a', 'b']
        split_list("")  # []
        split_list("a,,b")  # ValueError: empty item in the comma-separated list 'a,,b'
    """
    if not raw.strip():
        return []
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ValueError(f"empty item in the comma-separated list {raw[:200]!r}")
    return items
