"""Reading what an agent answers: bounded, strict JSON, with the request's key scrubbed out.

Every byte the connector reads of an agent's answer comes through here, for both protocols:

- :func:`read_bounded` reads at most ``limit`` bytes after decompression, and stops reading as
  soon as the body is known to be too large;
- :func:`parse_json` is strict (:mod:`~jamey_agent_orchestration.net.json_text`: orjson, and
  the standard library for the few documents orjson does not read): UTF-8, no NaN or Infinity,
  nor a number no double can hold (Python would pass it on as ``inf``), and absurd nesting is
  refused rather than recursed into. An integer beyond 64 bits is read as a double (orjson),
  one beyond a double's range exactly (the standard library); a ``jamey`` answer's output is
  its own text, so only an A2A Task written again can show the double;
- :func:`read_json` (a 2xx answer) and :func:`read_error_message` (any other) put every string
  through the request's :class:`~jamey_agent_orchestration.net.scrub.KeyScrubber`, so the key
  sent cannot come back in what the connector returns.
"""

from __future__ import annotations

from typing import Final

import aiohttp

from jamey_agent_orchestration.net import json_text
from jamey_agent_orchestration.net.agent_text import clean_text, error_message
from jamey_agent_orchestration.net.client import Attempt, FailureKind
from jamey_agent_orchestration.net.scrub import KeyScrubber, KeySpelledOut

__all__ = [
    "ERROR_BODY_LIMIT",
    "SEND_FAILED",
    "NotJSON",
    "error_text",
    "parse_json",
    "read_bounded",
    "read_error_message",
    "read_json",
    "too_large",
]

#: The start of every message about a request that did not get a usable answer.
SEND_FAILED: Final = "Failed to send task to agent"
#: How much of an error answer is read for the agent's message (the rest is not wanted).
ERROR_BODY_LIMIT: Final = 64 * 1024
#: A text body longer than this is a page, not a message: it is not shown.
_TEXT_MESSAGE_LIMIT: Final = 1024
_CHUNK: Final = 64 * 1024


class NotJSON(ValueError):
    """A body that is not strict JSON (or not UTF-8), or none whose text can be given without the
    key; the message says which (``response is not JSON``, ...)."""


def parse_json(data: bytes | bytearray, scrubber: KeyScrubber | None = None) -> tuple[object, str]:
    """The parsed document and its text, the key scrubbed out of both (with ``scrubber``).

    :class:`NotJSON` if it is not strict UTF-8 JSON, or if no text of it can be given without the
    key (see :meth:`KeyScrubber.document`).
    """
    try:
        document = json_text.loads(data)
        text = data.decode()  # it is UTF-8: it was read as such
        if scrubber is not None:
            document, text = scrubber.document(document, text)
    except KeySpelledOut as exc:
        raise NotJSON(str(exc)) from None
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise NotJSON("response is not JSON") from None
    return document, text


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes | bytearray | None:
    """The decoded body, or ``None`` if it is larger than ``limit`` bytes (reading stops there)."""
    # Content-Length counts encoded bytes: it bounds the decoded size only without an encoding.
    identity = response.headers.get("Content-Encoding", "identity").lower() == "identity"
    length = response.content_length if identity else None
    if length is not None:
        return None if length > limit else await response.read()
    data = bytearray()
    while True:
        # response.content yields decompressed bytes; stop once one byte too many has arrived.
        chunk = await response.content.read(min(_CHUNK, limit + 1 - len(data)))
        if not chunk:
            return data
        data += chunk
        if len(data) > limit:
            return None


def too_large(limit: int, status: int | None) -> Attempt:
    error = f"{SEND_FAILED}: response larger than {limit} bytes"
    return Attempt.failed(FailureKind.BAD_RESPONSE, error, status=status)


async def read_json(
    response: aiohttp.ClientResponse, limit: int, scrubber: KeyScrubber | None = None
) -> Attempt:
    """A successful answer: at most ``limit`` bytes of strict JSON, the key scrubbed out."""
    status = response.status
    data = await read_bounded(response, limit)
    if data is None:
        return too_large(limit, status)
    try:
        document, text = parse_json(data, scrubber)
    except NotJSON as exc:
        return Attempt.failed(FailureKind.BAD_RESPONSE, f"{SEND_FAILED}: {exc}", status=status)
    return Attempt(ok=True, response=document, text=text, status=status)


async def read_error_message(
    response: aiohttp.ClientResponse, scrubber: KeyScrubber | None, limit: int = ERROR_BODY_LIMIT
) -> str | None:
    """The agent's own message in an error answer (cleaned, key scrubbed), or ``None``.

    See :func:`error_text`; a body that cannot be read, or is larger than ``limit``, gives ``None``.
    """
    try:
        data = await read_bounded(response, limit)
    except (aiohttp.ClientError, OSError, TimeoutError):  # the status says enough
        return None
    return None if data is None else error_text(response.content_type, data, scrubber)


def error_text(
    content_type: str, data: bytes | bytearray, scrubber: KeyScrubber | None
) -> str | None:
    """The agent's own message in an error body, or ``None`` if it gave none.

    From a JSON body (see :func:`~jamey_agent_orchestration.net.agent_text.error_message`), or
    a short ``text/plain`` one. Never from a header; an HTML page or a long text gives ``None``.
    The key is scrubbed from the whole body before any of it is cut, and from the message again.
    """
    if not data:
        return None
    try:
        document, _ = parse_json(data, scrubber)
    except NotJSON:
        message = _text_message(content_type, data, scrubber)
    else:
        message = error_message(document)
    if message is None or scrubber is None:
        return message
    return scrubber.text(message) or None


def _text_message(
    content_type: str, data: bytes | bytearray, scrubber: KeyScrubber | None
) -> str | None:
    # application/octet-stream: what aiohttp says of a body without a Content-Type.
    if content_type not in ("text/plain", "application/octet-stream"):
        return None
    if len(data) > _TEXT_MESSAGE_LIMIT:
        return None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    if scrubber is not None:
        text = scrubber.text(text)
    return clean_text(text) or None
