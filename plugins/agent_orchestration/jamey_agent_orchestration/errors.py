"""Exceptions of the connector whose ``str`` is a safe, user-facing message."""

from __future__ import annotations


class SecurityViolation(Exception):
    """A URL or address the connector refuses. Its message starts ``Security violation:``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Security violation: {reason}")
        self.reason = reason
