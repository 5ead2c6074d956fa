"""Audit events: what they hold, how they are built, and the built-in JSON-lines sink."""

from __future__ import annotations

import datetime
import itertools
import json
import logging
import os
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, Final, Literal

import attrs

from jamey_host.markers import hookimpl
from jamey_host.redaction import redact

AUDIT_LOGGER_NAME: Final = "jamey_host.audit"

Outcome = Literal["success", "failure", "denied", "warning", "info"]
OUTCOMES: Final[frozenset[str]] = frozenset({"success", "failure", "denied", "warning", "info"})

# A process-wide random prefix plus a counter: unique, and ordered within a process (which a
# uuid4 would not be).
_ID_PREFIX: Final = os.urandom(6).hex()
_id_counter = itertools.count(1)


def _outcome(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in OUTCOMES:
        known = ", ".join(sorted(OUTCOMES))
        raise ValueError(f"AuditEvent.outcome {value!r} is not one of {known}")


@attrs.frozen
class AuditEvent:
    """One thing that happened, as every ``audit_event`` sink receives it.

    ``details`` has been redacted already; ``timestamp`` is timezone-aware UTC.
    """

    id: str
    timestamp: datetime.datetime
    event: str
    outcome: Outcome = attrs.field(validator=_outcome)
    connector: str | None = None
    action: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    error: str | None = None

    @classmethod
    def create(
        cls,
        event: str,
        *,
        outcome: Outcome,
        connector: str | None = None,
        action: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> AuditEvent:
        """A new event with a fresh id and the current time; ``details`` are redacted here.

        An ``error`` entry of ``details`` becomes the event's ``error`` field (as a string).
        """
        if details and "error" in details:
            details = dict(details)
            detail_error = details.pop("error")
            if error is None and detail_error is not None:
                error = str(redact(detail_error))
        return cls(
            id=f"{_ID_PREFIX}-{next(_id_counter):x}",
            timestamp=datetime.datetime.now(datetime.UTC),
            event=event,
            outcome=outcome,
            connector=connector,
            action=action,
            user_id=user_id,
            session_id=session_id,
            details=redact(details) if details else {},
            error=error,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, the timestamp in ISO 8601."""
        return {
            "id": self.id,
            "timestamp": self.timestamp.isoformat(),
            "event": self.event,
            "outcome": self.outcome,
            "connector": self.connector,
            "action": self.action,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "details": dict(self.details),
            "error": self.error,
        }

    def to_json(self) -> str:
        """One line of JSON; keys and values JSON cannot encode are written as their ``str``.

        The same text as encoding :meth:`to_dict`, assembled field by field: the eight string
        fields need no generic encoder, and the audit log writes one line per call.
        """
        try:
            return (
                f'{{"id":{_string(self.id)},"timestamp":"{self.timestamp.isoformat()}",'
                f'"event":{_string(self.event)},"outcome":{_string(self.outcome)},'
                f'"connector":{_string(self.connector)},"action":{_string(self.action)},'
                f'"user_id":{_string(self.user_id)},"session_id":{_string(self.session_id)},'
                f'"details":{_ENCODER.encode(_plain(self.details))},"error":{_string(self.error)}}}'
            )
        except TypeError:  # a field that is not a string, or a key that is not: encode it all
            data = self.to_dict()
            try:
                return _ENCODER.encode(data)
            except TypeError:  # a non-string key, which ``default`` never sees
                return _ENCODER.encode(_string_keys(data))


# One encoder for every event: json.dumps with options builds a new one on each call.
_ENCODER: Final = json.JSONEncoder(default=str, separators=(",", ":"))


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    return details if type(details) is dict else dict(details)


def _string(value: str | None) -> str:
    """A JSON string or null, escaped exactly as ``_ENCODER`` escapes it (ASCII only)."""
    return "null" if value is None else encode_basestring_ascii(value)


def _string_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key if isinstance(key, str) else str(key): _string_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_string_keys(item) for item in value]
    return value


class JsonLinesAuditLog:
    """The runtime's own ``audit_event`` sink: one JSON object per line at INFO.

    It writes to the logger ``jamey_host.audit``; configure that logger (a handler, a level)
    to keep the trail. Left unconfigured, the runtime does not even build events for it.
    """

    logger: Final = logging.getLogger(AUDIT_LOGGER_NAME)

    def enabled(self) -> bool:
        """Whether a record written now would be handled."""
        return self.logger.isEnabledFor(logging.INFO)

    @hookimpl
    def audit_event(self, event: AuditEvent) -> None:
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            # A record made here rather than by logger.info(): the caller's file and line would
            # always be this method, and finding them walks the stack on every event.
            record = logger.makeRecord(
                logger.name, logging.INFO, __file__, 0, event.to_json(), (), None, "audit_event"
            )
            logger.handle(record)
