"""The peer's agent logic: an SDK ``AgentExecutor``; the first word of the text picks the behaviour.

The connector sends ``parts: [{"text": task}, {"data": params}]``, so a test selects a behaviour
with the task name. Any other text is echoed back.

========== ====================================================================================
first word behaviour
========== ====================================================================================
(any)      echo: COMPLETED with an artifact ``echo`` holding the text and data parts back
``slow``   stays WORKING until cancelled (CANCELED) or :meth:`ScriptedExecutor.release_all`
``fail``   FAILED with the status message ``simulated failure``
``reject`` REJECTED with the status message ``rejected by peer``
``input``  INPUT_REQUIRED; a follow-up message with the same ``taskId`` completes it (echo)
``auth``   AUTH_REQUIRED with the status message ``authorization required``
``crash``  the executor raises: JSON-RPC -32603 / REST 500, the task stored FAILED
``message`` a Message answer (no task), echoing the text
========== ====================================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Final, final

from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import Message, Part, Role, TaskState
from google.protobuf.json_format import MessageToDict

__all__ = ["FAILURE_TEXT", "NEED_INPUT_TEXT", "ScriptedExecutor"]

FAILURE_TEXT: Final = "simulated failure"
REJECTED_TEXT: Final = "rejected by peer"
NEED_INPUT_TEXT: Final = "need more input: send a follow-up message with this taskId"
AUTH_TEXT: Final = "authorization required"
CRASH_TEXT: Final = "simulated executor crash"
CANCELED_TEXT: Final = "canceled by request"


def _first_word(message: Message | None) -> str:
    if message is None:
        return ""
    for part in message.parts:
        if part.HasField("text"):
            words = part.text.split(maxsplit=1)
            return words[0].lower() if words else ""
    return ""


def _echo_parts(message: Message) -> list[Part]:
    """The message's content as one text summary plus each data part unchanged."""
    lines: list[str] = []
    data_parts: list[Part] = []
    for part in message.parts:
        if part.HasField("text"):
            lines.append(f"echo: {part.text}")
        elif part.HasField("data"):
            lines.append(f"data: {json.dumps(MessageToDict(part.data), sort_keys=True)}")
            echoed = Part()
            echoed.CopyFrom(part)
            data_parts.append(echoed)
        elif part.HasField("url"):
            lines.append(f"file: {part.url} ({part.media_type or 'no media type'})")
        elif part.HasField("raw"):
            lines.append(f"raw: {len(part.raw)} bytes ({part.filename or 'no file name'})")
    return [new_text_part("\n".join(lines), media_type="text/plain"), *data_parts]


@final
class ScriptedExecutor(AgentExecutor):
    """Plays the behaviours of the module docstring.

    ``slow_seconds`` bounds a slow task: it completes by itself after that long, so a test that
    forgets to cancel it cannot hang the peer's shutdown.
    """

    def __init__(self, *, slow_seconds: float = 30.0) -> None:
        self.slow_seconds = slow_seconds
        self._release = asyncio.Event()

    def release_all(self) -> None:
        """Let every slow task complete now (the peer calls it before it stops)."""
        self._release.set()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        if message is None:  # the SDK always passes one to execute; keep mypy and readers sure
            raise RuntimeError("no message in the request context")
        word = _first_word(message)
        if word == "crash":
            raise RuntimeError(CRASH_TEXT)
        if word == "message" and context.current_task is None:
            reply = Message(
                role=Role.ROLE_AGENT,
                message_id=f"reply-{message.message_id}",
                context_id=context.context_id or "",
                parts=_echo_parts(message),
            )
            await event_queue.enqueue_event(reply)
            return

        task = context.current_task
        if task is None:
            task = new_task_from_user_message(message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)

        def say(text: str) -> Message:
            return updater.new_agent_message([new_text_part(text)])

        if task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            # The follow-up of an ``input`` task: whatever it says completes it.
            await updater.start_work(say("working"))
            await updater.add_artifact(_echo_parts(message), name="echo")
            await updater.complete(say("completed"))
            return

        await updater.start_work(say("working"))
        if word == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), timeout=self.slow_seconds)
            await updater.add_artifact([new_text_part("slow task done")], name="slow")
            await updater.complete(say("completed"))
        elif word == "fail":
            await updater.failed(say(FAILURE_TEXT))
        elif word == "reject":
            await updater.reject(say(REJECTED_TEXT))
        elif word == "input":
            await updater.requires_input(say(NEED_INPUT_TEXT))
        elif word == "auth":
            await updater.requires_auth(say(AUTH_TEXT))
        else:
            await updater.add_artifact(_echo_parts(message), name="echo")
            await updater.complete(say("completed"))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None or context.task_id is None:
            return
        updater = TaskUpdater(event_queue, context.task_id, task.context_id)
        await updater.cancel(updater.new_agent_message([new_text_part(CANCELED_TEXT)]))
