"""Keys an agent sends back: scrubbed from everything the connector reads of its answers.

An agent that echoes its request (a debug endpoint, a hostile agent) would hand the connector's
key back inside its answer, and from there to whoever reads the result. The connector knows the
key it sent with each request, so every string it reads from that answer, the JSON body's keys
and values and the agent's error text alike, goes through the request's :class:`KeyScrubber`
first: each occurrence of the key becomes ``***`` (so ``Bearer KEY`` becomes ``Bearer ***``).
:attr:`KeyScrubber.scrubbed` then tells the connector to audit ``agent.response_scrubbed``.
"""

from __future__ import annotations

from typing import Any, Final, final

import orjson

__all__ = ["MASK", "KeyScrubber"]

MASK: Final = "***"


@final
class KeyScrubber:
    """Replaces one key in what an agent answers; remembers whether it had to.

    One per request (shared by its retries). ``repr`` never shows the key.
    """

    __slots__ = ("_key", "scrubbed")

    def __init__(self, key: str) -> None:
        self._key = key
        self.scrubbed = False

    def __repr__(self) -> str:
        return f"KeyScrubber(scrubbed={self.scrubbed!r})"

    def text(self, value: str) -> str:
        """``value`` with every occurrence of the key replaced by ``***``."""
        if self._key not in value:
            return value
        self.scrubbed = True
        return value.replace(self._key, MASK)

    def document(self, document: object, raw: str) -> tuple[object, str]:
        """A parsed JSON ``document`` and its ``raw`` text, with the key out of every string.

        Without a backslash in ``raw``, every string of the document is a slice of ``raw`` as it
        is, so a key absent from ``raw`` is absent from the document: the usual answer costs two
        substring searches. Otherwise the document is walked (without recursion) and, if a
        string held the key, encoded again.
        """
        if self._key not in raw and "\\" not in raw:
            return document, raw
        before = self.scrubbed
        self.scrubbed = False
        cleaned = self._walk(document)
        found, self.scrubbed = self.scrubbed, before or self.scrubbed
        if not found:
            return document, raw
        return cleaned, orjson.dumps(cleaned).decode()

    def _walk(self, document: object) -> object:
        """A copy of ``document`` with every string (keys too) through :meth:`text`."""
        root: list[Any] = [document]
        # Each entry: a container already copied, and the original it is filled from.
        pending: list[tuple[Any, Any]] = [(root, [document])]
        while pending:
            copy, original = pending.pop()
            items = original.items() if isinstance(original, dict) else enumerate(original)
            for key, value in items:
                if isinstance(value, str):
                    value = self.text(value)
                elif isinstance(value, dict):
                    inner: Any = {}
                    pending.append((inner, value))
                    value = inner
                elif isinstance(value, list):
                    inner = [None] * len(value)
                    pending.append((inner, value))
                    value = inner
                if isinstance(copy, dict):
                    copy[self.text(key) if isinstance(key, str) else key] = value
                else:
                    copy[key] = value
        return root[0]
