"""JSON as agents send it: parsed strictly, and written again, by orjson where orjson can.

orjson reads and writes RFC 8259 JSON several times faster than the standard library, which
matters on the send path. It also refuses three things that are valid JSON text and that agents
do send: a lone surrogate escape (``"\\ud83d"``, from a JavaScript agent that cut a string inside
an emoji), an integer too large for a double, and (when writing) an integer beyond 64 bits or
nesting deeper than 254 levels. Those few documents go through the standard library instead, held
to the same rules: no NaN or Infinity, and no number no double can hold (``1e400``, which Python
would read as infinity and write back as ``Infinity``, which is not JSON).
"""

from __future__ import annotations

import json
import math
from typing import Final

import orjson

from jamey_agent_orchestration.model import NOT_UTF8

__all__ = ["dumps", "loads", "request_body"]


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def _finite(number: str) -> float:
    value = float(number)
    if math.isinf(value):
        raise ValueError("the number is too large")
    return value


# One decoder for every fallback: json.loads with an option builds a new one on each call.
_STRICT: Final = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite)


def loads(data: bytes | bytearray) -> object:
    """The document in ``data`` (UTF-8 JSON text).

    ``ValueError`` if it is not strict JSON, or ``RecursionError`` if it is nested too deeply for
    the standard library (orjson stops at 1,024 levels; the fallback near Python's recursion
    limit).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # not JSON, or JSON that orjson does not read: the standard library decides
    return _STRICT.decode(data.decode())


def dumps(document: object) -> str:
    """``document`` (as :func:`loads` made it) as compact JSON text.

    Where orjson cannot write it (a lone surrogate, an integer beyond 64 bits, more than 254
    levels), the standard library's text, with non-ASCII characters escaped, so that a lone
    surrogate stays an escape. ``RecursionError`` if even that is too deep.
    """
    try:
        return orjson.dumps(document).decode()
    except orjson.JSONEncodeError:
        return json.dumps(document, separators=(",", ":"))


def request_body(document: object) -> bytes:
    """A request body the connector built (strings, bounded integers, lists and mappings; any
    mapping that is not a dict is written as the dict it converts to) as compact UTF-8 JSON.

    ``ValueError`` naming the problem if a string in it cannot be sent as UTF-8 (a lone
    surrogate: a stray byte of a command line); nothing is sent then.
    """
    try:
        return orjson.dumps(document, default=dict)
    except orjson.JSONEncodeError:
        raise ValueError(f"Invalid task: the task or a param {NOT_UTF8}") from None
