"""Text that comes from an agent, made safe to show in one line of an error or a warning.

An agent's own words help a user debug (``Agent returned error status: 404: Unknown task: x``),
but they are the agent's: they may hold control characters that garble a terminal or a log,
bidirectional overrides that disguise what follows, or a whole page. :func:`clean_text` keeps one
line of printable text, at most :data:`MAX_ERROR_CHARS` characters; :func:`error_message` finds
the message in an agent's JSON error body. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_ERROR_CHARS", "clean_text", "error_message", "status_error"]

MAX_ERROR_CHARS: Final = 200  # how much of an agent's own text goes into an error or a warning


def clean_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` safe to show in one line: whitespace runs become one space, other non-printable
    characters (controls, bidi overrides, zero-width ones) are removed; then cut to ``limit``."""
    head = text[: limit * 4 + 64]  # bound the work before it starts
    if not head.isprintable():
        head = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in head)
    return " ".join(head.split())[:limit]


def error_message(document: object) -> str | None:
    """The agent's own message in a JSON error body, cleaned; ``None`` if it gave none.

    Understood: ``{"error": "..."}`` (the reference agent's), ``{"error": {"message": "..."}}``
    (A2A's HTTP+JSON, Google's and many others'), and ``{"message": "..."}``.
    """
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    if error is None:
        error = document.get("message")
    if not isinstance(error, str):
        return None
    return clean_text(error) or None


def status_error(status: int, message: str | None = None) -> str:
    """``Agent returned error status: CODE``, then ``: MESSAGE`` if the agent said why.

    A message that starts with the code again (aiohttp's ``404: Not Found``) loses it.
    """
    wording = f"Agent returned error status: {status}"
    if message and message.startswith(str(status)):
        message = message[len(str(status)) :].lstrip(" :-")
    return f"{wording}: {message}" if message else wording
