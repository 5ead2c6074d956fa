"""The agent registry in a SQLite file, shared safely by every runtime that opens it.

- Reads are served from memory (:class:`~.copy.RegistryCopy`): before each one, ``PRAGMA
  data_version`` on a connection of the event loop's own says whether any other connection
  committed since the last look (a read of the WAL index in shared memory that never waits: its
  busy timeout is 0). Only then does the store ask its thread, which reloads when the
  registry's change counter (``generation``) moved, decrypting only the rows that changed.
- All other SQLite work runs in one dedicated thread per store, so the event loop never blocks.
- WAL mode, ``synchronous=FULL``, and every write is one ``BEGIN IMMEDIATE`` transaction: a crash
  mid-write leaves the previous state, and writers in other processes wait (``busy_timeout``)
  instead of failing or losing a write. Before each write the file at the registry's path must
  still be the one opened (device and inode): a registry deleted or replaced under a running
  runtime fails the write instead of answering success into an unlinked file.
- ``insert`` is ``INSERT ... ON CONFLICT DO NOTHING``: of two racing inserts of one id, in any
  processes, exactly one wins. Registration order is the autoincrement ``seq``; ``replace`` updates
  in place and keeps it.
- The round-robin cursor of each capability (the ``seq`` of the agent last served) is a row,
  advanced in the same transaction that picks the agent, so runtimes sharing a file share turns.
- API keys are stored only as AES-GCM ciphertext bound to the agent's record
  (:mod:`jamey_agent_orchestration.store.keys`). A ``key_check`` row, encrypted at creation,
  lets :meth:`SqliteAgentStore.open` refuse a wrong master key at once, before anything is read
  or written.
- Schema 2 (this one) adds the A2A fields and the key binding; a schema 1 file (the first
  release) is migrated when it is opened, in one transaction, its keys re-encrypted.
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
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, ParamSpec, TypeVar, final

from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.store.base import REGISTRY_SETTING_VAR, ProblemFn, RegistryError
from jamey_agent_orchestration.store.copy import RegistryCopy, StoredAgent
from jamey_agent_orchestration.store.keys import (
    KeyBinding,
    KeyCipher,
    MasterKeyRotated,
    check_key,
    key_directory,
    load_master_key,
    make_key_check,
)
from jamey_agent_orchestration.store.record import AgentRecord

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
SCHEMA_VERSION: Final = 2
BUSY_TIMEOUT_SECONDS: Final = 10.0

_SQLITE_MAGIC: Final = b"SQLite format 3\x00"

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
        capabilities TEXT NOT NULL,
        protocol TEXT NOT NULL DEFAULT 'jamey',
        endpoint TEXT,
        binding TEXT,
        key_header TEXT,
        version INTEGER NOT NULL DEFAULT 1
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

# Schema 1 to 2: the A2A fields, a version per row and the registry's change counter; every key
# is then re-encrypted under its binding (_Database._migrate_from_1).
_MIGRATION_1_TO_2: Final = (
    "ALTER TABLE agents ADD COLUMN protocol TEXT NOT NULL DEFAULT 'jamey'",
    "ALTER TABLE agents ADD COLUMN endpoint TEXT",
    "ALTER TABLE agents ADD COLUMN binding TEXT",
    "ALTER TABLE agents ADD COLUMN key_header TEXT",
    "ALTER TABLE agents ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
)

_COLUMNS: Final = (
    "seq, version, id, name, url, capabilities, protocol, endpoint, binding, key_header, api_key"
)
_SELECT_AGENTS: Final = f"SELECT {_COLUMNS} FROM agents"  # noqa: S608 - constant text
_SELECT_NEXT: Final = (
    "SELECT a.seq, a.id "
    "FROM capabilities AS c JOIN agents AS a ON a.seq = c.agent_seq "
    "WHERE c.capability = ? AND c.agent_seq > ? "
    "AND a.id NOT IN (SELECT value FROM json_each(?)) "
    "ORDER BY c.agent_seq LIMIT 1"
)

Row = tuple[int, int, str, str, str, str, str, str | None, str | None, str | None, bytes]

P = ParamSpec("P")
T = TypeVar("T")


def prepare_sqlite_store(
    path: Path, state_dir: Path | None, *, on_problem: ProblemFn | None = None
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
    return SqliteAgentStore(path, cipher, on_problem=on_problem), created


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


def _record(row: Row) -> AgentRecord:
    _seq, _version, agent_id, name, url, capabilities, protocol, endpoint, binding, header, blob = (
        row
    )
    return AgentRecord(
        id=agent_id,
        name=name,
        url=url,
        capabilities=tuple(json.loads(capabilities)),
        protocol=protocol,
        endpoint=endpoint,
        binding=binding,
        key_header=header,
        api_key=blob,
    )


def _rotated_error(path: Path) -> MasterKeyRotated:
    return MasterKeyRotated(
        f"The master key of the agent registry {path} was rotated by another process; restart "
        f"with the new key (nothing was written)"
    )


@final
class _Database:
    """One synchronous connection to a registry file. Not thread-safe: one thread uses it."""

    def __init__(self, path: Path, cipher: KeyCipher, *, create: bool = True) -> None:
        self.path = path
        self.cipher = cipher
        self._conn: sqlite3.Connection | None = None
        self._key_check = b""
        self._identity = (0, 0)
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

    def _uri(self) -> str:
        return self.path.absolute().as_uri() + "?mode=rw"

    @_guarded
    def _connect(self) -> None:
        conn = sqlite3.connect(
            self._uri(), uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            conn.execute("PRAGMA trusted_schema = OFF")
            self._identity = self._file_identity()
            key_check = self._adopt(conn)
            # WAL only once the file is known to be ours: switching modes writes the header.
            switch_to_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._key_check = key_check

    @_guarded
    def open_probe(self) -> tuple[sqlite3.Connection, int]:
        """A connection for the event loop's ``PRAGMA data_version``, and its first answer.

        Its busy timeout is 0: in WAL mode the pragma reads the WAL index and never waits; if
        it cannot answer at once, the store asks its thread instead.
        """
        probe = sqlite3.connect(
            self._uri(),
            uri=True,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            probe.execute("PRAGMA query_only = ON")
            version: int = probe.execute("PRAGMA data_version").fetchone()[0]
            probe.execute("PRAGMA busy_timeout = 0")  # from now on, on the event loop
        except BaseException:
            probe.close()
            raise
        return probe, version

    def _file_identity(self) -> tuple[int, int]:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0)
        return (info.st_dev, info.st_ino)

    def _check_identity(self) -> None:
        """Refuse to write when the path no longer names the file this connection opened.

        SQLite keeps writing to a deleted (unlinked) file, so a write would answer success and
        the next process would find nothing.
        """
        now = self._file_identity()
        if now == self._identity:
            return
        what = "deleted" if now == (0, 0) else "replaced by another file"
        raise RegistryError(
            f"The agent registry {self.path} was {what} while this runtime was using it; "
            f"nothing was written. Restore it, or restart the runtime to use the file now there"
        )

    @contextlib.contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """A write transaction; yields the connection and this write's generation.

        It first checks that the file is still the one opened, and that the master key was not
        rotated meanwhile by another process (writing on with the old key would store keys
        nobody can read); either refuses the write. The generation (the registry's change
        counter) is the version of every row the write touches; it is advanced only when the
        write changed a row, so a refused insert changes nothing.
        """
        self._check_identity()
        conn = self.conn
        with _immediate(conn):
            if self._meta(conn, "key_check") != self._key_check:
                raise _rotated_error(self.path)
            generation = self._generation(conn) + 1
            before = conn.total_changes
            yield conn, generation
            if conn.total_changes != before:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('generation', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (generation,),
                )

    @staticmethod
    def _meta(conn: sqlite3.Connection, key: str) -> bytes | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def _generation(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return 0 if row is None else int(row[0])

    def _adopt(self, conn: sqlite3.Connection) -> bytes:
        """Check (or, for an empty file, create) the schema, migrating a schema 1 file.

        Returns the key check value, once the master key is known to open it.
        """
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
            value = self._meta(conn, "key_check")
            if value is None:
                raise _not_ours(self.path, "no key check")
            check_key(self.cipher, value, schema_1=version < 2)
            if version < 2:
                return self._migrate_from_1(conn)
            return value

    def _create_schema(self, conn: sqlite3.Connection) -> bytes:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        key_check = make_key_check(self.cipher)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("format", "jamey agent registry"), ("key_check", key_check), ("generation", 1)],
        )
        return key_check

    def _migrate_from_1(self, conn: sqlite3.Connection) -> bytes:
        """Schema 1 to 2, inside the caller's transaction: columns, then keys under their binding.

        A key that does not open (a row tampered with under schema 1) keeps its old ciphertext,
        which schema 2 never accepts: that agent becomes a registry error, and is never sent to.
        """
        for statement in _MIGRATION_1_TO_2:
            conn.execute(statement)
        updates = []
        for seq, agent_id, url, blob in conn.execute("SELECT seq, id, url, api_key FROM agents"):
            try:
                api_key = self.cipher.decrypt_v1(agent_id, blob)
            except RegistryError:
                continue
            binding = KeyBinding(agent_id=agent_id, url=url)
            updates.append((self.cipher.encrypt(binding, api_key), seq))
        conn.executemany("UPDATE agents SET api_key = ? WHERE seq = ?", updates)
        key_check = make_key_check(self.cipher)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'key_check'", (key_check,))
        conn.execute("INSERT INTO meta (key, value) VALUES ('generation', 1)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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

    def _index(self, seq: int, capabilities: Collection[str]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO capabilities (capability, agent_seq) VALUES (?, ?)",
            [(capability, seq) for capability in capabilities],
        )

    @staticmethod
    def _values(record: AgentRecord) -> tuple[object, ...]:
        return (
            record.name,
            record.url,
            record.api_key,
            json.dumps(list(record.capabilities)),
            record.protocol,
            record.endpoint,
            record.binding,
            record.key_header,
        )

    @_guarded
    def insert(self, record: AgentRecord) -> tuple[int, int] | None:
        """Insert-if-absent; the new row's ``(seq, version)``, or ``None`` if the id exists."""
        with self._write() as (conn, generation):
            cursor = conn.execute(
                "INSERT INTO agents (id, name, url, api_key, capabilities, protocol, "
                "endpoint, binding, key_header, version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (record.id, *self._values(record), generation),
            )
            if cursor.rowcount != 1:
                return None
            assert cursor.lastrowid is not None
            self._index(cursor.lastrowid, record.capabilities)
            return cursor.lastrowid, generation

    @_guarded
    def replace(self, record: AgentRecord) -> tuple[bool, int, int]:
        """Add or overwrite; ``(overwrote, seq, version)``."""
        with self._write() as (conn, generation):
            found = conn.execute("SELECT seq FROM agents WHERE id = ?", (record.id,)).fetchone()
            if found is None:
                cursor = conn.execute(
                    "INSERT INTO agents (id, name, url, api_key, capabilities, protocol, "
                    "endpoint, binding, key_header, version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.id, *self._values(record), generation),
                )
                assert cursor.lastrowid is not None
                self._index(cursor.lastrowid, record.capabilities)
                return False, cursor.lastrowid, generation
            seq: int = found[0]
            conn.execute(
                "UPDATE agents SET name = ?, url = ?, api_key = ?, capabilities = ?, "
                "protocol = ?, endpoint = ?, binding = ?, key_header = ?, version = ? "
                "WHERE seq = ?",
                (*self._values(record), generation, seq),
            )
            conn.execute("DELETE FROM capabilities WHERE agent_seq = ?", (seq,))
            self._index(seq, record.capabilities)
            return True, seq, generation

    @_guarded
    def delete(self, agent_id: str) -> int | None:
        """Remove an agent; the version it was removed at, or ``None`` if there was none."""
        with self._write() as (conn, generation):
            found = conn.execute("SELECT seq FROM agents WHERE id = ?", (agent_id,)).fetchone()
            if found is None:
                return None
            conn.execute("DELETE FROM capabilities WHERE agent_seq = ?", found)
            conn.execute("DELETE FROM agents WHERE seq = ?", found)
            return generation

    @_guarded
    def load(
        self, known_generation: int, known: Mapping[str, StoredAgent]
    ) -> tuple[int, list[StoredAgent] | None]:
        """The registry's generation and, if it moved past ``known_generation``, every row.

        Rows whose ``(seq, version)`` the copy already holds are reused, not decrypted again. A
        rotated master key is refused: its rows would not open with this store's key.
        """
        conn = self.conn
        conn.execute("BEGIN")  # one snapshot for the counter and the rows
        try:
            if self._meta(conn, "key_check") != self._key_check:
                raise _rotated_error(self.path)
            generation = self._generation(conn)
            if generation == known_generation:
                return generation, None
            entries = []
            for row in conn.execute(_SELECT_AGENTS + " ORDER BY seq"):
                seq, version, agent_id = row[0], row[1], row[2]
                held = known.get(agent_id)
                if held is not None and held.seq == seq and held.version == version:
                    entries.append(held)
                else:
                    entries.append(_record(row).open(self.cipher, seq=seq, version=version))
            return generation, entries
        finally:
            conn.execute("COMMIT")

    @_guarded
    def next_for_capability(self, capability: str, exclude: Collection[str]) -> str | None:
        """The id of the next agent offering ``capability``, its turn taken in the file."""
        self._check_identity()
        conn = self.conn
        skip = json.dumps(sorted(exclude))
        with _immediate(conn):
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
        agent_id: str = row[1]
        return agent_id

    @_guarded
    def rotate(self, new_cipher: KeyCipher) -> int:
        """Re-encrypt every key under ``new_cipher``, in one transaction; return how many.

        A key that does not open under its record stops the rotation (nothing is changed): it
        names the agent to register again first.
        """
        with self._write() as (conn, generation):
            updates = []
            for row in conn.execute(_SELECT_AGENTS).fetchall():
                record = _record(row)
                entry = record.open(self.cipher, seq=row[0], version=row[1])
                if entry.problem is not None:
                    raise RegistryError(
                        f"{entry.problem} (before rotating the master key; nothing was changed)"
                    )
                resealed = record.resealed(self.cipher, new_cipher)
                updates.append((resealed.api_key, generation, row[0]))
            conn.executemany("UPDATE agents SET api_key = ?, version = ? WHERE seq = ?", updates)
            key_check = make_key_check(new_cipher)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'key_check'", (key_check,))
        self.cipher = new_cipher
        self._key_check = key_check
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

    Reads come from the store's copy, brought up to date first when the file changed. Writes
    run on the store's own worker thread. A cancelled call may still complete on that thread
    (a write then stays written): the same as a request lost after it was sent. Errors are
    :class:`RegistryError`, whose message is safe to show and names what to do.
    """

    def __init__(
        self, path: Path, cipher: KeyCipher, *, on_problem: ProblemFn | None = None
    ) -> None:
        self.path = path
        self._cipher = cipher
        self._db: _Database | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._copy = RegistryCopy(on_problem)
        self._probe: sqlite3.Connection | None = None
        self._seen_data_version = -1
        self._generation = -1
        self._refreshing: asyncio.Lock | None = None
        self._refusal: RegistryError | None = None

    def __repr__(self) -> str:
        return f"SqliteAgentStore({str(self.path)!r})"

    async def _call(self, method: Callable[[_Database], T]) -> T:
        db, executor = self._db, self._executor
        if db is None or executor is None:
            raise RegistryError(f"The agent registry {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, method, db)

    async def open(self) -> None:
        """Create or check the file, the schema and the master key, and load it; idempotent."""
        if self._db is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jamey-registry")
        loop = asyncio.get_running_loop()
        try:
            db = await loop.run_in_executor(executor, _Database, self.path, self._cipher)
            self._db, self._executor = db, executor
            # The probe's first answer is taken before the load: a write between the two is
            # then seen as a change, never missed.
            self._probe, self._seen_data_version = await self._call(lambda db: db.open_probe())
            self._generation, entries = await self._call(lambda db: db.load(-1, {}))
        except BaseException:
            await self.close()
            executor.shutdown(wait=False)
            raise
        assert entries is not None
        self._copy.replace_all(entries)
        self._refreshing = asyncio.Lock()

    async def close(self) -> None:
        db, executor, probe = self._db, self._executor, self._probe
        self._db = self._executor = self._probe = None
        if probe is not None:
            probe.close()  # closing a connection that holds no transaction does not wait
        if executor is None:
            return
        try:
            if db is not None:
                await asyncio.get_running_loop().run_in_executor(executor, db.close)
        finally:
            # Joining the thread blocks; its last job has finished, but join off the loop anyway.
            await asyncio.to_thread(executor.shutdown, wait=True)

    def _changed(self) -> tuple[bool, int]:
        """Whether another connection may have committed since the copy was brought up to date."""
        probe = self._probe
        if probe is None:
            raise RegistryError(f"The agent registry {self.path} is not open")
        try:
            version: int = probe.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return True, -1  # could not tell at once: ask the thread
        return version != self._seen_data_version, version

    async def _current(self) -> RegistryCopy:
        """The copy, brought up to date with the file first if anything committed meanwhile."""
        if self._refusal is not None:
            raise self._refusal
        changed, _ = self._changed()
        if not changed:
            return self._copy
        lock = self._refreshing
        assert lock is not None
        async with lock:  # held across a hop to the store's thread only, never network I/O
            changed, version = self._changed()
            if changed:
                known = self._copy.entries()
                generation = self._generation
                try:
                    generation, entries = await self._call(lambda db: db.load(generation, known))
                except MasterKeyRotated as exc:
                    self._refusal = exc  # never serve keys this store can no longer vouch for
                    self._copy.clear()
                    raise
                if entries is not None:
                    self._copy.replace_all(entries)
                self._generation = generation
                if version >= 0:
                    self._seen_data_version = version
        return self._copy

    def _wrote(self, generation: int) -> None:
        # Our own write: the copy already has it. If nobody else wrote in between, the copy is
        # as current as the file; otherwise the next read reloads.
        if generation == self._generation + 1:
            self._generation = generation

    async def insert(self, agent: Agent) -> bool:
        record = AgentRecord.seal(agent, self._cipher)
        inserted = await self._call(lambda db: db.insert(record))
        if inserted is None:
            return False
        seq, version = inserted
        self._copy.put(StoredAgent(id=agent.id, seq=seq, version=version, agent=agent))
        self._wrote(version)
        return True

    async def replace(self, agent: Agent) -> bool:
        record = AgentRecord.seal(agent, self._cipher)
        existed, seq, version = await self._call(lambda db: db.replace(record))
        self._copy.put(StoredAgent(id=agent.id, seq=seq, version=version, agent=agent))
        self._wrote(version)
        return existed

    async def delete(self, agent_id: str) -> bool:
        version = await self._call(lambda db: db.delete(agent_id))
        if version is None:
            return False
        self._copy.remove(agent_id, version)
        self._wrote(version)
        return True

    async def get(self, agent_id: str) -> Agent | None:
        return (await self._current()).get(agent_id)

    async def list(self) -> list[Agent]:
        return (await self._current()).list()

    async def next_for_capability(
        self, capability: str, exclude: Collection[str] = ()
    ) -> Agent | None:
        """The next agent offering ``capability`` after the last one served, skipping ``exclude``.

        ``exclude`` is the ids of agents to pass over (open circuit breakers); the cursor moves
        to the agent returned, so skipped agents keep their place for the next round. The turn
        is taken in the file (runtimes sharing it share the turns); the agent comes from the copy.
        """
        copy = await self._current()
        skip = frozenset(exclude) | {
            agent_id for agent_id, entry in copy.entries().items() if entry.problem is not None
        }
        agent_id = await self._call(lambda db: db.next_for_capability(capability, skip))
        if agent_id is None:
            return None
        return (await self._current()).get(agent_id)


def rotate_master_key(store_path: Path, old_cipher: KeyCipher, new_cipher: KeyCipher) -> int:
    """Re-encrypt every stored key under ``new_cipher`` in one transaction; return how many.

    Synchronous (for the command line). The registry must exist and open with ``old_cipher``
    (a schema 1 file is migrated first); on any error nothing is changed. Other runtimes using
    the file must be stopped first: they refuse to write, and then to read, once it is rotated.
    """
    db = _Database(store_path, old_cipher, create=False)
    try:
        return db.rotate(new_cipher)
    finally:
        db.close()
