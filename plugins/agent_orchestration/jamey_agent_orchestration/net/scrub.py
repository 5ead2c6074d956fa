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

from jamey_agent_orchestration.net import json_text

__all__ = ["KEY_SPELLED_OUT", "MASK", "KeyScrubber", "KeySpelledOut"]

MASK: Final = "***"
#: Why an answer whose text, once scrubbed, still spells the key is refused.
KEY_SPELLED_OUT: Final = "the answer spells the API key across its punctuation"


class KeySpelledOut(ValueError):
    """JSON text that spells the key across its punctuation (a key holding ``":"``, say), where no
    string holds it: no text of that document can be given."""


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
        masked = value.replace(self._key, MASK)
        # A key that begins or ends with "*" could be made again around a mask ("abc*" in
        # "abcabc**"); such a text is all mask. (New keys may not hold "*": new_key_problem.)
        return MASK if self._key in masked else masked

    def document(self, document: object, raw: str) -> tuple[object, str]:
        """A parsed JSON ``document`` and its ``raw`` text, with the key out of both.

        Without a backslash in ``raw``, every string of the document is a slice of ``raw`` as it
        is, so a key absent from ``raw`` is absent from the document: the usual answer costs two
        substring searches. Otherwise the document is walked (without recursion). When a string
        held the key, or ``raw`` holds it where no string does (in a value that a repeated name
        replaced, or spelled across the punctuation), the text is the cleaned document written
        again; :class:`KeySpelledOut` if even that text spells the key.
        """
        in_raw = self._key in raw
        if not in_raw and "\\" not in raw:
            return document, raw
        before = self.scrubbed
        self.scrubbed = False
        cleaned = self._walk(document)
        found = self.scrubbed
        self.scrubbed = before or found or in_raw
        if not found and not in_raw:
            return document, raw
        text = json_text.dumps(cleaned)
        if self.spelled_in(text):
            raise KeySpelledOut(KEY_SPELLED_OUT)
        return cleaned, text

    def spelled_in(self, text: str) -> bool:
        """Whether ``text``, JSON the connector wrote from a scrubbed document, still spells the key
        (across the punctuation); the answer then counts as scrubbed, for the audit."""
        if self._key not in text:
            return False
        self.scrubbed = True
        return True

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
