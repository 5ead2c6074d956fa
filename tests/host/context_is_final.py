"""Checked by ``mypy --strict`` (``tox -e type``), never run: a connector cannot relabel its calls.

``ExecutionContext`` is a slotted class whose attributes are ``Final``: each assignment below must
stay an error for mypy. ``warn_unused_ignores`` (part of ``--strict``) fails the type check as soon
as one of them is accepted, for instance if an attribute lost its ``Final``.
"""

from __future__ import annotations

from jamey_host import ExecutionContext


def relabel(context: ExecutionContext) -> None:
    context.connector = "other"  # type: ignore[misc]
    context.action = "other"  # type: ignore[misc]
    context.user_id = "mallory"  # type: ignore[misc]
    context.session_id = "other"  # type: ignore[misc]
    context.settings = {}  # type: ignore[misc]
    context.auditing = False  # type: ignore[misc]
