"""SqliteAgentStore: persistence, keys at rest, refusal of foreign files, multi-process safety."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jamey_agent_orchestration.model import Agent, ApiKey
from jamey_agent_orchestration.store import AgentStore, MemoryAgentStore, RegistryError
from jamey_agent_orchestration.store.base import registry_path
from jamey_agent_orchestration.store.keys import KeyCipher, generate_master_key
from jamey_agent_orchestration.store.sqlite import (
    APPLICATION_ID,
    SqliteAgentStore,
    rotate_master_key,
    switch_to_wal,
)

CANARY = "sk-canary-7f3a9c1e5b2d4086-do-not-store"
KEY_TEXT = generate_master_key()


def cipher(text: str = KEY_TEXT) -> KeyCipher:
    return KeyCipher.from_text(text, source="JAMEY_SECRET_KEY")


def agent(n: int | str, *caps: str, key: str | None = None, name: str = "") -> Agent:
    return Agent(
        id=f"a{n}",
        name=name or f"Agent {n}",
        url=f"https://agent{n}.example/",
        api_key=ApiKey(key or f"key-{n}"),
        capabilities=caps,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, content: bytes | None) -> None:
    """Create ``path`` (and its parent), with ``content``, or as a directory if ``None``."""
    if content is None:
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "agents.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteAgentStore]:
    opened = SqliteAgentStore(db_path, cipher())
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def test_is_an_agent_store(db_path: Path) -> None:
    stores: list[AgentStore] = [SqliteAgentStore(db_path, cipher()), MemoryAgentStore()]
    assert len(stores) == 2


def test_registry_path(tmp_path: Path) -> None:
    assert registry_path(tmp_path / "x.db", tmp_path / "s") == tmp_path / "x.db"
    assert registry_path(None, tmp_path / "s") == tmp_path / "s" / "agents.db"
    assert registry_path(None, None) is None


async def test_operations_follow_the_store_contract(store: SqliteAgentStore) -> None:
    assert await store.insert(agent(1, "x"))
    assert not await store.insert(agent(1, "y", name="dup"))
    assert await store.insert(agent(2))
    assert await store.insert(agent(3, "x"))
    got = await store.get("a1")
    assert got is not None
    assert got.name == "Agent 1"
    assert got.api_key == ApiKey("key-1")
    assert got.capabilities == ("x",)
    assert await store.get("nope") is None
    # replace keeps the registration order and updates the capability index
    assert await store.replace(agent(1, "z", key="rotated", name="New"))
    assert [a.id for a in await store.list()] == ["a1", "a2", "a3"]
    replaced = await store.get("a1")
    assert replaced is not None
    assert replaced.name == "New"
    assert replaced.api_key == ApiKey("rotated")
    assert [(await store.next_for_capability("x")) for _ in range(2)] == [agent(3, "x")] * 2
    assert (await store.next_for_capability("z")) == agent(1, "z", key="rotated", name="New")
    assert not await store.replace(agent(4, "x"))  # absent: added at the end
    assert await store.delete("a2")
    assert not await store.delete("a2")
    assert [a.id for a in await store.list()] == ["a1", "a3", "a4"]
    assert await store.next_for_capability("none") is None


async def test_round_robin_in_registration_order_with_exclusions(store: SqliteAgentStore) -> None:
    for n in range(1, 5):
        await store.insert(agent(n, "x" if n != 2 else "y"))
    picks = [(await store.next_for_capability("x")) for _ in range(6)]
    assert [a.id for a in picks if a] == ["a1", "a3", "a4", "a1", "a3", "a4"]
    picks = [(await store.next_for_capability("x", exclude={"a3"})) for _ in range(3)]
    assert [a.id for a in picks if a] == ["a1", "a4", "a1"]
    assert await store.next_for_capability("x", exclude={"a1", "a3", "a4"}) is None


async def test_concurrent_callers_each_get_the_next_turn(store: SqliteAgentStore) -> None:
    for n in range(5):
        await store.insert(agent(n, "x"))
    picks = await asyncio.gather(*(store.next_for_capability("x") for _ in range(50)))
    counts: dict[str, int] = {}
    for pick in picks:
        assert pick is not None
        counts[pick.id] = counts.get(pick.id, 0) + 1
    assert counts == {f"a{n}": 10 for n in range(5)}


async def test_round_robin_is_shared_by_two_stores_on_one_file(db_path: Path) -> None:
    first, second = SqliteAgentStore(db_path, cipher()), SqliteAgentStore(db_path, cipher())
    await first.open()
    await second.open()
    try:
        for n in range(3):
            await first.insert(agent(n, "x"))
        picks = []
        for _ in range(3):
            picks.append(await first.next_for_capability("x"))
            picks.append(await second.next_for_capability("x"))
        assert [a.id for a in picks if a] == ["a0", "a1", "a2", "a0", "a1", "a2"]
        assert [a.id for a in await second.list()] == ["a0", "a1", "a2"]
    finally:
        await first.close()
        await second.close()


async def test_survives_a_restart(db_path: Path) -> None:
    first = SqliteAgentStore(db_path, cipher())
    await first.open()
    for n in (5, 1, 3):
        await first.insert(agent(n, "x", "y"))
    await first.insert(agent("canary", key=CANARY))
    assert await first.next_for_capability("x") == agent(5, "x", "y")
    await first.close()
    await first.close()  # idempotent

    second = SqliteAgentStore(db_path, cipher())
    await second.open()
    try:
        assert await second.list() == [
            agent(5, "x", "y"),
            agent(1, "x", "y"),
            agent(3, "x", "y"),
            agent("canary", key=CANARY),
        ]
        assert await second.next_for_capability("x") == agent(1, "x", "y")  # cursor kept
    finally:
        await second.close()


async def test_files_never_contain_a_key_and_are_private(db_path: Path) -> None:
    store = SqliteAgentStore(db_path, cipher())
    await store.open()
    try:
        await store.insert(agent("canary", key=CANARY))
        await store.replace(agent("canary", key=CANARY + "-2"))
        files = [p for p in db_path.parent.iterdir() if p.name.startswith("agents.db")]
        assert {p.name for p in files} >= {"agents.db", "agents.db-wal", "agents.db-shm"}
        for path in files:
            data = path.read_bytes()
            assert CANARY.encode() not in data, path
            assert KEY_TEXT.encode() not in data, path
            if sys.platform != "win32":
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        await store.close()
    assert CANARY.encode() not in read(db_path)
    if sys.platform != "win32":
        assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


async def test_a_wrong_master_key_is_refused_and_changes_nothing(db_path: Path) -> None:
    store = SqliteAgentStore(db_path, cipher())
    await store.open()
    await store.insert(agent(1, key=CANARY))
    await store.close()
    before = digest(db_path)
    other = SqliteAgentStore(db_path, cipher(generate_master_key()))
    with pytest.raises(RegistryError, match="JAMEY_SECRET_KEY") as caught:
        await other.open()
    assert "nothing stored was changed" in str(caught.value)
    assert CANARY not in str(caught.value)
    with pytest.raises(RegistryError, match="not open"):
        await other.list()
    await other.close()
    assert digest(db_path) == before
    reopened = SqliteAgentStore(db_path, cipher())
    await reopened.open()
    try:
        assert await reopened.get("a1") == agent(1, key=CANARY)
    finally:
        await reopened.close()


async def test_a_swapped_ciphertext_does_not_decrypt(db_path: Path) -> None:
    store = SqliteAgentStore(db_path, cipher())
    await store.open()
    await store.insert(agent(1))
    await store.insert(agent(2))
    await store.close()
    with sqlite3.connect(db_path) as conn:  # an attacker moving agent 2's key onto agent 1
        conn.execute("UPDATE agents SET api_key = (SELECT api_key FROM agents WHERE id='a2')")
    conn.close()
    store = SqliteAgentStore(db_path, cipher())
    await store.open()
    try:
        with pytest.raises(RegistryError, match="agent a1 does not match its record"):
            await store.get("a1")
    finally:
        await store.close()


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(8192),
        b"SQLite format 3\x00" + os.urandom(5000),
        b"hello, not a database\n",
        b"x",
    ],
    ids=["random", "sqlite-magic-then-garbage", "text", "one-byte"],
)
async def test_a_corrupt_file_is_refused_and_left_untouched(db_path: Path, content: bytes) -> None:
    write(db_path, content)
    store = SqliteAgentStore(db_path, cipher())
    with pytest.raises(RegistryError, match="JAMEY_AGENT_ORCHESTRATION__REGISTRY"):
        await store.open()
    await store.close()
    assert read(db_path) == content
    assert names(db_path.parent) == ["agents.db"]


@pytest.mark.parametrize("application_id", [0, 0x12345678])
async def test_a_foreign_sqlite_file_is_refused_and_left_untouched(
    db_path: Path, application_id: int
) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA application_id = {application_id}")
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('precious')")
    conn.commit()
    conn.close()
    before = digest(db_path)
    store = SqliteAgentStore(db_path, cipher())
    with pytest.raises(RegistryError, match="is not a jamey agent registry") as caught:
        await store.open()
    assert "JAMEY_AGENT_ORCHESTRATION__REGISTRY" in str(caught.value)
    await store.close()
    assert digest(db_path) == before
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()


async def test_an_empty_file_becomes_a_registry(db_path: Path) -> None:
    write(db_path, b"")
    store = SqliteAgentStore(db_path, cipher())
    await store.open()
    await store.close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        conn.close()


async def test_a_directory_is_refused(db_path: Path) -> None:
    write(db_path, None)
    store = SqliteAgentStore(db_path, cipher())
    with pytest.raises(RegistryError, match="not a regular file"):
        await store.open()


def test_a_crash_mid_transaction_leaves_the_previous_state(db_path: Path) -> None:
    # A process killed in the middle of a write transaction on the registry file, while its
    # store is open: SQLite's journal must bring back the committed state, nothing else.
    script = textwrap.dedent(
        """
        import asyncio, os, sqlite3, sys
        from pathlib import Path
        from jamey_agent_orchestration.model import Agent, ApiKey
        from jamey_agent_orchestration.store.keys import KeyCipher
        from jamey_agent_orchestration.store.sqlite import SqliteAgentStore

        async def main(path):
            store = SqliteAgentStore(path, KeyCipher.from_text(
                os.environ["JAMEY_SECRET_KEY"], source="JAMEY_SECRET_KEY"))
            await store.open()
            await store.insert(
                Agent(id="kept", name="Kept", url="https://kept.example/", api_key=ApiKey("k")))
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM agents")
            for n in range(100):
                conn.execute(
                    "INSERT INTO agents (id, name, url, api_key, capabilities) "
                    "VALUES (?, 'n', 'https://x/', x'00', '[]')", (f"lost{n}",))
            os._exit(9)  # killed mid-transaction: no commit, no rollback, no close

        asyncio.run(main(Path(sys.argv[1])))
        """
    )
    env = {**os.environ, "JAMEY_SECRET_KEY": KEY_TEXT}
    done = subprocess.run(
        [sys.executable, "-c", script, str(db_path)], env=env, timeout=60, check=False
    )
    assert done.returncode == 9

    async def check() -> list[str]:
        store = SqliteAgentStore(db_path, cipher())
        await store.open()
        try:
            return [a.id for a in await store.list()]
        finally:
            await store.close()

    assert asyncio.run(check()) == ["kept"]


_WORKER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from jamey_agent_orchestration.model import Agent, ApiKey
    from jamey_agent_orchestration.store.keys import KeyCipher
    from jamey_agent_orchestration.store.sqlite import SqliteAgentStore

    async def main(path, ids):
        store = SqliteAgentStore(Path(path), KeyCipher.from_text(
            os.environ["JAMEY_SECRET_KEY"], source="JAMEY_SECRET_KEY"))
        await store.open()
        Path(f"{path}.{os.getpid()}.ready").touch()
        while not Path(path + ".go").exists():  # start inserting together
            await asyncio.sleep(0.005)
        try:
            won = 0
            for agent_id in ids:
                agent = Agent(id=agent_id, name=agent_id, url=f"https://{agent_id}.example/",
                              api_key=ApiKey("key-" + agent_id), capabilities=("x",))
                won += await store.insert(agent)
            await store.next_for_capability("x")
        finally:
            await store.close()
        print(won)

    path, prefix, start, stop = sys.argv[1:5]
    asyncio.run(main(path, [f"{prefix}{n}" for n in range(int(start), int(stop))]))
    """
)


def _race(db_path: Path, jobs: list[tuple[str, int, int]]) -> list[int]:
    env = {**os.environ, "JAMEY_SECRET_KEY": KEY_TEXT}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(db_path), prefix, str(start), str(stop)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix, start, stop in jobs
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(db_path.parent.glob("*.ready"))) < len(jobs):
            for process in processes:
                if process.poll() is not None:  # a worker that failed to open: say why
                    _, err = process.communicate()
                    raise AssertionError(f"a worker exited before starting:\n{err}")
            assert time.monotonic() < deadline, "workers did not start within 60 s"
            time.sleep(0.01)
        (db_path.parent / (db_path.name + ".go")).touch()
        won = []
        for process in processes:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            won.append(int(out))
        return won
    finally:
        for process in processes:  # never leave a worker behind, whatever failed
            if process.poll() is None:
                process.kill()
            process.communicate()


def _ids(db_path: Path) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM agents ORDER BY seq")]
    finally:
        conn.close()


def test_two_processes_registering_lose_nothing(db_path: Path) -> None:
    # Both processes also create the (absent) file and schema at the same time.
    assert _race(db_path, [("p", 0, 500), ("q", 0, 500)]) == [500, 500]
    ids = _ids(db_path)
    assert len(ids) == 1000
    assert set(ids) == {f"p{n}" for n in range(500)} | {f"q{n}" for n in range(500)}
    if sys.platform != "win32":
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_two_processes_racing_on_the_same_ids_insert_each_once(db_path: Path) -> None:
    won = _race(db_path, [("same", 0, 200), ("same", 0, 200)])
    assert sum(won) == 200
    ids = _ids(db_path)
    assert sorted(ids) == sorted(f"same{n}" for n in range(200))


async def test_rotation_re_encrypts_every_key(db_path: Path) -> None:
    store = SqliteAgentStore(db_path, cipher())
    await store.open()
    for n in range(20):
        await store.insert(agent(n, key=f"secret-{n}"))
    new_text = generate_master_key()
    # A runtime still open with the old key refuses to write once the key was rotated.
    assert rotate_master_key(db_path, cipher(), cipher(new_text)) == 20
    with pytest.raises(RegistryError, match="rotated by another process"):
        await store.insert(agent(99))
    await store.close()

    with pytest.raises(RegistryError, match="JAMEY_SECRET_KEY"):
        rotate_master_key(db_path, cipher(), cipher(generate_master_key()))
    rotated = SqliteAgentStore(db_path, cipher(new_text))
    await rotated.open()
    try:
        agents = await rotated.list()
        assert [a.api_key for a in agents] == [ApiKey(f"secret-{n}") for n in range(20)]
    finally:
        await rotated.close()


def test_rotation_needs_an_existing_registry(db_path: Path) -> None:
    with pytest.raises(RegistryError, match="no agent registry"):
        rotate_master_key(db_path, cipher(), cipher(generate_master_key()))
    assert not db_path.exists()


_OPENER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from pathlib import Path
    from jamey_agent_orchestration.store.keys import KeyCipher
    from jamey_agent_orchestration.store.sqlite import SqliteAgentStore

    async def main(base, rounds, name):
        cipher = KeyCipher.from_text(os.environ["JAMEY_SECRET_KEY"], source="JAMEY_SECRET_KEY")
        for n in range(rounds):
            (base / f"ready{n}.{name}").touch()
            while not (base / f"go{n}").exists():
                time.sleep(0.0005)
            store = SqliteAgentStore(base / f"r{n}" / "agents.db", cipher)
            try:
                await store.open()
            except Exception as exc:
                print(f"round {n}: {exc}")
            finally:
                await store.close()

    base, rounds, name = sys.argv[1:4]
    asyncio.run(main(Path(base), int(rounds), name))
    """
)


def test_two_processes_creating_a_new_registry_at_the_same_instant_both_open_it(
    tmp_path: Path,
) -> None:
    # Both switch the new file to WAL at once; SQLite then refuses one of them outright (it
    # would deadlock), which used to fail about one open in 150 here.
    rounds = 100
    env = {**os.environ, "JAMEY_SECRET_KEY": KEY_TEXT}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(tmp_path), str(rounds), name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    try:
        for n in range(rounds):  # release both workers together, round after round
            deadline = time.monotonic() + 30
            while not all((tmp_path / f"ready{n}.{name}").exists() for name in ("a", "b")):
                assert all(w.poll() is None for w in workers), "a worker exited early"
                assert time.monotonic() < deadline, f"round {n}: workers not ready"
                time.sleep(0.0005)
            (tmp_path / f"go{n}").touch()
        outputs = [w.communicate(timeout=60) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert [out for out, _ in outputs] == ["", ""]


def _locked(path: Path) -> sqlite3.Connection:
    """Another connection holding the file's write lock, as a racing process would."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def _impatient(path: Path) -> sqlite3.Connection:
    """A connection that is refused at once while the file is locked (no busy timeout)."""
    return sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)


def test_the_wal_switch_is_tried_again_while_another_process_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    holder, conn = _locked(path), _impatient(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            conn.execute("PRAGMA journal_mode = WAL").fetchone()  # what a racing open meets
        release = threading.Timer(0.2, holder.rollback)
        release.start()
        started = time.monotonic()
        switch_to_wal(conn)  # keeps trying until the lock is released
        assert time.monotonic() - started >= 0.15
        release.join()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
        holder.close()


def test_the_wal_switch_gives_up_after_its_patience(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder, conn = _locked(path), _impatient(path)
    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            switch_to_wal(conn, patience=0.05)
        assert 0.05 <= time.monotonic() - started < 2
    finally:
        conn.close()
        holder.close()
