"""new_idempotency_key: 128 random bits per key, never the same twice, not even after a fork."""

from __future__ import annotations

import os
import re
import sys
import threading

import pytest

from jamey_agent_orchestration import delivery
from jamey_agent_orchestration.delivery import new_idempotency_key

HEX_128 = re.compile(r"[0-9a-f]{32}")


def test_keys_are_128_bits_of_hex_and_all_different() -> None:
    # Several draws' worth, so that the refill is crossed more than once.
    keys = [new_idempotency_key() for _ in range(5 * delivery._KEYS_PER_DRAW + 3)]
    assert all(HEX_128.fullmatch(key) for key in keys)
    assert len(set(keys)) == len(keys)


def test_keys_drawn_from_threads_at_once_are_all_different() -> None:
    # Threads switched as often as the interpreter allows, so that some are taken off the CPU
    # between a refill of the shared keys and the taking of their own.
    drawn: list[list[str]] = [[] for _ in range(8)]
    failures: list[BaseException] = []
    start = threading.Barrier(len(drawn))

    def draw(into: list[str]) -> None:
        start.wait(timeout=10)
        try:
            for _ in range(100 * delivery._KEYS_PER_DRAW):
                into.append(new_idempotency_key())
        except BaseException as exc:  # reported below, in the test's own thread
            failures.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    keys = [key for into in drawn for key in into]
    assert len(keys) == 8 * 100 * delivery._KEYS_PER_DRAW
    assert len(set(keys)) == len(keys)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_sends_the_keys_its_parent_has_yet_to_send() -> None:
    new_idempotency_key()  # the parent now holds keys it has not sent
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next keys, and leave without running any cleanup
        try:
            os.close(reader)
            os.write(writer, " ".join(new_idempotency_key() for _ in range(8)).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        child_keys = pipe.read().decode().split()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    parent_keys = [new_idempotency_key() for _ in range(8)]
    assert len(child_keys) == 8
    assert all(HEX_128.fullmatch(key) for key in child_keys)
    assert not set(child_keys) & set(parent_keys)
