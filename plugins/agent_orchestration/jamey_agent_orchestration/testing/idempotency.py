"""The reference agent's ``Idempotency-Key`` handling, the same in both of its modes.

A repeated key gets the first answer back; a key whose answer is still being made waits for that
one answer (made once, whoever asked first); the oldest answers are forgotten past a size.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, Final, Generic, TypeVar, final

__all__ = ["MAX_KEY_LENGTH", "IdempotentAnswers"]

#: The longest ``Idempotency-Key`` accepted.
MAX_KEY_LENGTH: Final = 255

_Answer = TypeVar("_Answer")


@final
class IdempotentAnswers(Generic[_Answer]):
    """The answers given, by key; ``keep`` says which answers may be given again (a server
    failure, say, may not: it may be retried with the same key)."""

    def __init__(self, size: int, *, keep: Callable[[_Answer], bool] = lambda answer: True) -> None:
        self._size = size
        self._keep = keep
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[_Answer]] = {}

    @staticmethod
    def valid(key: str) -> bool:
        return 0 < len(key) <= MAX_KEY_LENGTH

    async def answer(self, key: str, make: Callable[[], Coroutine[Any, Any, _Answer]]) -> _Answer:
        """The answer given for ``key`` before, or the one ``make`` makes (once per key)."""
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        running = self._in_flight.get(key)
        if running is None:
            running = asyncio.ensure_future(make())
            self._in_flight[key] = running
            running.add_done_callback(lambda done: self._remember(key, done))
        # Shielded: a client that goes away does not cancel the others' answer.
        return await asyncio.shield(running)

    def _remember(self, key: str, done: asyncio.Task[_Answer]) -> None:
        self._in_flight.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        answer = done.result()
        if self._keep(answer):
            self._answers[key] = answer
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)

    async def close(self) -> None:
        """Cancel the answers still being made, and wait for them to end."""
        running = list(self._in_flight.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
