"""The agent registry in a SQLite file, shared safely by every runtime that opens it.

- All SQLite work runs in one dedicated thread per store, so the event loop never blocks.
- WAL mode, ``synchronous=FULL``, and every write is one ``BEGIN IMMEDIATE`` transaction: a crash
  mid-write leaves the previous state, and writers in other processes wait (``busy_timeout``)
  instead of failing or losing a write.
- ``insert`` is ``INSERT ... ON CONFLICT DO NOTHING``: of two racing inserts of one id, in any
  processes, exactly one wins. Registration order is the autoincrement ``seq``; ``replace`` updates
  in place and keeps it.
- The round-robin cursor of each capability (the ``seq`` of the agent last served) is a row,
  advanced in the same transaction that picks the agent, so runtimes sharing a file share turns.
- API keys are stored only as AES-GCM ciphertext (:mod:`jamey_agent_orchestration.store.keys`). A
  ``key_check`` row, encrypted at creation, lets :meth:`SqliteAgentStore.open` refuse a wrong
  master key at once, before anything is read or written.
- The file is created with mode 0600 before SQLite opens it (its ``-wal`` and ``-shm`` files
  inherit that mode). A file that is not a jamey agent registry (not SQLite, or SQLite without
  our ``application_id``) is refused with :class:`RegistryError` and never modified.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, ParamSpec, TypeVar, final

from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.store.base import REGISTRY_SETTING_VAR, RegistryError
from jamey_agent_orchestration.store.keys import KeyCipher, key_directory, load_master_key

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_SECONDS",
    "SCHEMA_VERSION",
    "SqliteAgentStore",
    "check_registry_header",
    "prepare_sqlite_store",
    "rotate_master_key",
    "switch_to_wal",
]

#: ``PRAGMA application_id`` of a jamey agent registry: "JAMY".
APPLICATION_ID: Final = 0x4A414D59
SCHEMA_VERSION: Final = 1
BUSY_TIMEOUT_SECONDS: Final = 10.0

_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_KEY_CHECK_AAD: Final = b"jamey agent registry key check"
_KEY_CHECK_PLAINTEXT: Final = b"jamey"

_SCHEMA: Final = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE agents (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        api_key BLOB NOT NULL,
        capabilities TEXT NOT NULL
    )""",
    """CREATE TABLE capabilities (
        capability TEXT NOT NULL,
        agent_seq INTEGER NOT NULL,
        PRIMARY KEY (capability, agent_seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX capabilities_by_agent ON capabilities (agent_seq)",
    """CREATE TABLE turns (
        capability TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
    ) WITHOUT ROWID""",
)

_SELECT_AGENTS: Final = "SELECT seq, id, name, url, api_key, capabilities FROM agents"
_SELECT_NEXT: Final = (
    "SELECT a.seq, a.id, a.name, a.url, a.api_key, a.capabilities "
    "FROM capabilities AS c JOIN agents AS a ON a.seq = c.agent_seq "
    "WHERE c.capability = ? AND c.agent_seq > ? "
    "AND a.id NOT IN (SELECT value FROM json_each(?)) "
    "ORDER BY c.agent_seq LIMIT 1"
)

P = ParamSpec("P")
T = TypeVar("T")


def prepare_sqlite_store(
    path: Path, state_dir: Path | None
) -> tuple[SqliteAgentStore, Path | None]:
    """The store of the registry file ``path``, and the master key file if this call created it.

    A file that is plainly not a registry is refused first (named as such, not as a key
    problem); a new registry may create its key file, an existing one never does (a new key
    could not read it). Reads and may write files: call it in a thread; then ``await open()``.
    """
    fresh = not path.exists() or path.stat().st_size == 0
    if not fresh:
        check_registry_header(path)
    cipher, created = load_master_key(key_directory(path, state_dir), create=fresh)
    return SqliteAgentStore(path, cipher), created


def check_registry_header(path: Path) -> None:
    """Refuse what is plainly not a registry by its first bytes, before SQLite touches it.

    An empty file passes: it is a new registry (ours, or another process's mid-creation).
    """
    try:
        if not path.is_file():
            raise _not_ours(path, "not a regular file")
        with path.open("rb") as handle:
            head = handle.read(100)
    except OSError as exc:
        raise RegistryError(f"Cannot read the agent registry {path}: {exc}") from None
    if not head:
        return
    if len(head) < 100 or head[:16] != _SQLITE_MAGIC:
        raise _not_ours(path, "not a SQLite database")
    application_id = int.from_bytes(head[68:72], "big")
    if application_id not in (0, APPLICATION_ID):
        raise _not_ours(path, f"a SQLite database of another application, {application_id:#x}")


def _not_ours(path: Path, why: str) -> RegistryError:
    return RegistryError(
        f"{path} is not a jamey agent registry ({why}); it was left untouched. Move it away, "
        f"or set {REGISTRY_SETTING_VAR} to another path"
    )


def _guarded(method: Callable[P, T]) -> Callable[P, T]:
    """Turn SQLite errors of a :class:`_Database` method into :class:`RegistryError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            path = getattr(args[0], "path", "?")
            if "locked" in str(exc) or "busy" in str(exc):
                raise RegistryError(
                    f"The agent registry {path} stayed locked by another process for more than "
                    f"{BUSY_TIMEOUT_SECONDS:g} seconds; try again"
                ) from None
            raise RegistryError(f"The agent registry {path} cannot be used: {exc}") from None
        except sqlite3.DatabaseError as exc:
            path = getattr(args[0], "path", "?")
            raise RegistryError(
                f"The agent registry {path} is damaged or unreadable ({exc}); it was left "
                f"untouched. Restore it from a backup, or set {REGISTRY_SETTING_VAR} to "
                f"another path"
            ) from None

    return wrapper


def switch_to_wal(conn: sqlite3.Connection, *, patience: float = BUSY_TIMEOUT_SECONDS) -> None:
    """Put the file in WAL mode (a no-op when another process already did).

    Two processes switching the same new file at once would deadlock, so SQLite refuses one of
    them at once ("database is locked") instead of waiting out the busy timeout: try again, for
    ``patience`` seconds. This runs on the store's own thread, never on the event loop.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)
        else:
            return


@final
class _Database:
    """One synchronous connection to a registry file. Not thread-safe: one thread uses it."""

    def __init__(self, path: Path, cipher: KeyCipher, *, create: bool = True) -> None:
        self.path = path
        self.cipher = cipher
        self._conn: sqlite3.Connection | None = None
        self._key_check = b""
        if create:
            self._create_file()
        elif not path.exists():
            raise RegistryError(f"There is no agent registry at {path}")
        self._check_header()
        self._connect()

    # -- opening ---------------------------------------------------------------------------

    def _create_file(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            os.close(os.open(self.path, flags, 0o600))
        except FileExistsError:
            pass  # an existing file, ours or not: _check_header decides
        except OSError as exc:
            raise RegistryError(f"Cannot create the agent registry {self.path}: {exc}") from None

    def _check_header(self) -> None:
        check_registry_header(self.path)

    @_guarded
    def _connect(self) -> None:
        uri = self.path.absolute().as_uri() + "?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            conn.execute("PRAGMA trusted_schema = OFF")
            key_check = self._adopt(conn)
            # WAL only once the file is known to be ours: switching modes writes the header.
            switch_to_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            self.cipher.decrypt_bytes(_KEY_CHECK_AAD, key_check)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._key_check = key_check

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that first checks the master key was not rotated meanwhile.

        Another process rotating the key changes the ``key_check`` row; writing on with the
        old key would store keys nobody can read, so the write is refused instead.
        """
        conn = self.conn
        with _immediate(conn):
            row = conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
            if row is None or row[0] != self._key_check:
                raise RegistryError(
                    f"The master key of the agent registry {self.path} was rotated by another "
                    f"process; restart with the new key (nothing was written)"
                )
            yield conn

    def _adopt(self, conn: sqlite3.Connection) -> bytes:
        """Check (or, for an empty file, create) the schema; return the key check value."""
        with _immediate(conn):
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
            if application_id == 0 and tables == 0:
                return self._create_schema(conn)
            if application_id != APPLICATION_ID:
                raise _not_ours(self.path, "a SQLite database without jamey's application id")
            if version > SCHEMA_VERSION:
                raise RegistryError(
                    f"The agent registry {self.path} was written by a newer jamey (schema "
                    f"{version}, this one reads {SCHEMA_VERSION}); upgrade jamey"
                )
            row = conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
            if row is None:
                raise _not_ours(self.path, "no key check")
            value: bytes = row[0]
            return value

    def _create_schema(self, conn: sqlite3.Connection) -> bytes:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        key_check = self.cipher.encrypt_bytes(_KEY_CHECK_AAD, _KEY_CHECK_PLAINTEXT)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("format", "jamey agent registry"), ("key_check", key_check)],
        )
        return key_check

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RegistryError(f"The agent registry {self.path} is closed")
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- operations ------------------------------------------------------------------------

    def _row(self, agent: Agent) -> tuple[str, str, str, bytes, str]:
        blob = self.cipher.encrypt(agent.id, agent.api_key)
        return agent.id, agent.name, str(agent.url), blob, json.dumps(list(agent.capabilities))

    def _agent(self, row: tuple[int, str, str, str, bytes, str]) -> Agent:
        _seq, agent_id, name, url, blob, capabilities = row
        # The URL passed the address policy when it was registered; it is parsed, not judged.
        return Agent(
            id=agent_id,
            name=name,
            url=url,
            api_key=self.cipher.decrypt(agent_id, blob),
            capabilities=tuple(json.loads(capabilities)),
        )

    def _index(self, seq: int, capabilities: Collection[str]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO capabilities (capability, agent_seq) VALUES (?, ?)",
            [(capability, seq) for capability in capabilities],
        )

    @_guarded
    def insert(self, agent: Agent) -> bool:
        row = self._row(agent)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO agents (id, name, url, api_key, capabilities) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                row,
            )
            if cursor.rowcount != 1:
                return False
            assert cursor.lastrowid is not None
            self._index(cursor.lastrowid, agent.capabilities)
            return True

    @_guarded
    def replace(self, agent: Agent) -> bool:
        agent_id, name, url, blob, capabilities = self._row(agent)
        with self._write() as conn:
            found = conn.execute("SELECT seq FROM agents WHERE id = ?", (agent_id,)).fetchone()
            if found is None:
                cursor = conn.execute(
                    "INSERT INTO agents (id, name, url, api_key, capabilities) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (agent_id, name, url, blob, capabilities),
                )
                assert cursor.lastrowid is not None
                self._index(cursor.lastrowid, agent.capabilities)
                return False
            seq: int = found[0]
            conn.execute(
                "UPDATE agents SET name = ?, url = ?, api_key = ?, capabilities = ? WHERE seq = ?",
                (name, url, blob, capabilities, seq),
            )
            conn.execute("DELETE FROM capabilities WHERE agent_seq = ?", (seq,))
            self._index(seq, agent.capabilities)
            return True

    @_guarded
    def delete(self, agent_id: str) -> bool:
        with self._write() as conn:
            found = conn.execute("SELECT seq FROM agents WHERE id = ?", (agent_id,)).fetchone()
            if found is None:
                return False
            conn.execute("DELETE FROM capabilities WHERE agent_seq = ?", found)
            conn.execute("DELETE FROM agents WHERE seq = ?", found)
            return True

    @_guarded
    def get(self, agent_id: str) -> Agent | None:
        row = self.conn.execute(_SELECT_AGENTS + " WHERE id = ?", (agent_id,)).fetchone()
        return None if row is None else self._agent(row)

    @_guarded
    def list(self) -> list[Agent]:
        rows = self.conn.execute(_SELECT_AGENTS + " ORDER BY seq").fetchall()
        return [self._agent(row) for row in rows]

    @_guarded
    def next_for_capability(self, capability: str, exclude: Collection[str]) -> Agent | None:
        conn = self.conn
        skip = json.dumps(sorted(exclude))
        with self._write():
            found = conn.execute(
                "SELECT last_seq FROM turns WHERE capability = ?", (capability,)
            ).fetchone()
            last = 0 if found is None else int(found[0])
            row = conn.execute(_SELECT_NEXT, (capability, last, skip)).fetchone()
            if row is None and last:
                row = conn.execute(_SELECT_NEXT, (capability, 0, skip)).fetchone()  # wrap around
            if row is None:
                return None
            conn.execute(
                "INSERT INTO turns (capability, last_seq) VALUES (?, ?) "
                "ON CONFLICT (capability) DO UPDATE SET last_seq = excluded.last_seq",
                (capability, row[0]),
            )
        return self._agent(row)

    @_guarded
    def rotate(self, new_cipher: KeyCipher) -> int:
        with self._write() as conn:
            updates = [
                (new_cipher.encrypt(agent_id, self.cipher.decrypt(agent_id, blob)), seq)
                for seq, agent_id, blob in conn.execute("SELECT seq, id, api_key FROM agents")
            ]
            conn.executemany("UPDATE agents SET api_key = ? WHERE seq = ?", updates)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'key_check'",
                (new_cipher.encrypt_bytes(_KEY_CHECK_AAD, _KEY_CHECK_PLAINTEXT),),
            )
        self.cipher = new_cipher
        self._key_check = conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()[
            0
        ]
        return len(updates)


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: the write lock taken up front, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@final
class SqliteAgentStore:
    """An :class:`~jamey_agent_orchestration.store.base.AgentStore` in a SQLite file.

    Every operation runs on the store's own worker thread. A cancelled call may still complete
    on that thread (a write then stays written): the same as a request lost after it was sent.
    Errors are :class:`RegistryError`, whose message is safe to show and names what to do.
    """

    def __init__(self, path: Path, cipher: KeyCipher) -> None:
        self.path = path
        self._cipher = cipher
        self._db: _Database | None = None
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"SqliteAgentStore({str(self.path)!r})"

    async def _call(self, method: Callable[[_Database], T]) -> T:
        db, executor = self._db, self._executor
        if db is None or executor is None:
            raise RegistryError(f"The agent registry {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, method, db)

    async def open(self) -> None:
        """Create or check the file, the schema and the master key; idempotent."""
        if self._db is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jamey-registry")
        try:
            self._db = await asyncio.get_running_loop().run_in_executor(
                executor, _Database, self.path, self._cipher
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    async def close(self) -> None:
        db, executor = self._db, self._executor
        self._db = self._executor = None
        if executor is None:
            return
        try:
            if db is not None:
                await asyncio.get_running_loop().run_in_executor(executor, db.close)
        finally:
            # Joining the thread blocks; its last job has finished, but join off the loop anyway.
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def insert(self, agent: Agent) -> bool:
        return await self._call(lambda db: db.insert(agent))

    async def replace(self, agent: Agent) -> bool:
        return await self._call(lambda db: db.replace(agent))

    async def delete(self, agent_id: str) -> bool:
        return await self._call(lambda db: db.delete(agent_id))

    async def get(self, agent_id: str) -> Agent | None:
        return await self._call(lambda db: db.get(agent_id))

    async def list(self) -> list[Agent]:
        return await self._call(lambda db: db.list())

    async def next_for_capability(
        self, capability: str, exclude: Collection[str] = ()
    ) -> Agent | None:
        """The next agent offering ``capability`` after the last one served, skipping ``exclude``.

        ``exclude`` is the ids of agents to pass over (open circuit breakers); the cursor moves
        to the agent returned, so skipped agents keep their place for the next round.
        """
        skip = frozenset(exclude)
        return await self._call(lambda db: db.next_for_capability(capability, skip))


def rotate_master_key(store_path: Path, old_cipher: KeyCipher, new_cipher: KeyCipher) -> int:
    """Re-encrypt every stored key under ``new_cipher`` in one transaction; return how many.

    Synchronous (for the command line). The registry must exist and open with ``old_cipher``;
    on any error nothing is changed. Other runtimes using the file must be stopped first: they
    would keep writing with the old key.
    """
    db = _Database(store_path, old_cipher, create=False)
    try:
        return db.rotate(new_cipher)
    finally:
        db.close()
