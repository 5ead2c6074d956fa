"""The ``registry`` setting given as a ``postgresql://`` URL: a credential, shown only scrubbed.

A URL's user-info (``user:password@``) is a credential: :class:`DatabaseUrl` never shows it
(``str``, ``repr`` and :attr:`DatabaseUrl.safe` put ``***`` in its place), and
:meth:`DatabaseUrl.scrub` removes it from any text, such as a driver's error message, before
that text goes anywhere.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Final, NoReturn, final

__all__ = ["SCHEMES", "DatabaseUrl", "looks_like_url"]

#: The URL schemes that select the PostgreSQL registry.
SCHEMES: Final = ("postgresql", "postgres")

_URL: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def looks_like_url(text: str) -> bool:
    """Whether ``text`` is a URL (``scheme://...``) rather than a file path."""
    return _URL.match(text) is not None


@final
class DatabaseUrl:
    """A PostgreSQL URL; only :meth:`reveal` gives the text with its user-info.

    Raises ``ValueError`` (never quoting the URL) when ``text`` is not a ``postgresql://`` or
    ``postgres://`` URL with a host or a database.
    """

    __slots__ = ("_secrets", "_text", "_user", "safe")

    def __init__(self, text: str) -> None:
        found = _URL.match(text)
        scheme = found.group(1).lower() if found else ""
        if scheme not in SCHEMES:
            raise ValueError(
                f"unsupported URL scheme {scheme!r}: a file path, or a postgresql:// URL"
            )
        try:
            parts = urllib.parse.urlsplit(text)
            _ = parts.port  # a port that is not a number raises here
        except ValueError:
            raise ValueError("not a valid postgresql:// URL (its host or port)") from None
        if not (parts.hostname or parts.path.strip("/") or parts.query):
            raise ValueError("a postgresql:// URL needs a host or a database")
        self._text = text
        userinfo, _, hostport = parts.netloc.rpartition("@")
        netloc = f"***@{hostport}" if userinfo else hostport
        self.safe = urllib.parse.urlunsplit(
            (parts.scheme, netloc, parts.path, _scrub_query(parts.query), "")
        )
        secrets = set()
        if userinfo:
            user, _, password = userinfo.partition(":")
            for value in (password, urllib.parse.unquote(password), userinfo):
                if value:
                    secrets.add(value)
            self._user = urllib.parse.unquote(user)
        else:
            self._user = ""
        for key, value in urllib.parse.parse_qsl(parts.query):
            if key.lower() in ("password", "user") and value:
                secrets.add(value)
        self._secrets = tuple(sorted(secrets, key=len, reverse=True))

    def reveal(self) -> str:
        """The URL itself: only for the driver."""
        return self._text

    def scrub(self, text: str) -> str:
        """``text`` without this URL's user-info: its password, its user name, the URL itself."""
        text = text.replace(self._text, self.safe)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        if self._user:  # as a word only: a user "postgres" must not garble "PostgreSQL"
            text = re.sub(rf"(?<![\w-]){re.escape(self._user)}(?![\w-])", "***", text)
        return text

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.safe!r})"

    def __str__(self) -> str:
        return self.safe

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseUrl) and other._text == self._text

    def __hash__(self) -> int:
        return hash(("DatabaseUrl", self._text))

    def __reduce__(self) -> NoReturn:
        raise TypeError("A DatabaseUrl cannot be pickled")


def _scrub_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    shown = [(k, "***" if k.lower() in ("password", "user") else v) for k, v in pairs]
    return urllib.parse.urlencode(shown)
