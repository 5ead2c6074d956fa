"""A wrapper that keeps an API key out of every repr, log line and serializer."""

from __future__ import annotations

from typing import NoReturn, final


@final
class ApiKey:
    """An agent's API key. Only :meth:`reveal` gives the value back.

    ``str``, ``repr`` and ``format`` show ``***``; ``json``, ``pickle``, ``copy`` and cattrs cannot
    turn it into its value, because it is not an attrs class, a mapping or a string.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("ApiKey takes a str")
        if not value.strip():
            raise ValueError("Security violation: API key cannot be empty")
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
        import hmac

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("An ApiKey cannot be pickled")
