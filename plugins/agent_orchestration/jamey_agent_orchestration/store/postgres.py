"""The agent registry on PostgreSQL, shared by any number of hosts (contract section 8).

- **A copy in every host.** Each host keeps every agent in memory (:class:`~.copy.RegistryCopy`),
  loaded at startup and kept current by ``LISTEN``/``NOTIFY``: a trigger notifies the id and new
  version of every row written, on commit, and the host's listener fetches that row. Versions come
  from a sequence, taken under the row's lock, so they grow in commit order per agent; the copy
  applies a row only when it is newer, so an old notification never overwrites a newer row.
  ``send_task``, ``broadcast`` and ``list_agents`` read the copy: no round trip. A ``get`` that
  misses the copy asks the database, so an agent registered on another host a moment ago is
  found on the very next call.
- **The listener** has a connection of its own (outside the pool, whose reset runs ``UNLISTEN
  *``). It subscribes before it loads, so nothing committed in between is missed; it checks its
  connection every few seconds with a ``SELECT 1`` (the only thing that notices a frozen
  network), and treats *any* error on it as a lost connection: asyncpg can raise
  ``InternalClientError``, neither a ``PostgresError`` nor an ``InterfaceError``, and then not
  call its termination listeners. After a loss it reconnects with backoff and reloads everything,
  since notifications sent while it was away are gone.
- **Writes** (``insert``, ``replace``, ``delete``) are one transaction each, on a pooled
  connection, bounded by the ``timeout`` setting; any failure is ``Registry unavailable: ...``
  (the URL's user-info scrubbed from every driver message) and leaves nothing half-done. The
  connection of a failed write is terminated, never reused. Rows are never deleted: an
  unregistered agent becomes a tombstone without its key, so that a later registration of the
  same id is an update under the row's lock, with a newer version.
- **Keys at rest** as in SQLite: AES-256-GCM bound to the agent's record, a ``key_check`` row that
  refuses a host with another master key at startup (nothing changed). Each write re-reads the
  key check ``FOR SHARE`` in its transaction, and a rotation changes it: a host still running
  with the old key is refused at its next write or reload, and its copy is dropped.
- **The schema** is created on first use under a transaction-scoped advisory lock (hosts starting
  at once create it once), with a ``schema_version`` row. A database whose tables are not a
  jamey registry is refused and left untouched.
- **Per host**: circuit breakers and round-robin turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, final

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

from jamey_agent_orchestration.database_url import DatabaseUrl
from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.store.base import REGISTRY_SETTING_VAR, ProblemFn, RegistryError
from jamey_agent_orchestration.store.copy import RegistryCopy, StoredAgent
from jamey_agent_orchestration.store.keys import (
    MAKE_KEY_HINT,
    KeyCipher,
    KeyMismatch,
    MasterKeyRotated,
    check_key,
    load_master_key,
    make_key_check,
)
from jamey_agent_orchestration.store.record import AgentRecord
from jamey_host import SECRET_KEY_VAR

__all__ = [
    "CHANNEL",
    "LISTENER_NAME",
    "SCHEMA_VERSION",
    "PostgresAgentStore",
    "prepare_postgres_store",
    "rotate_postgres_master_key",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
#: The ``LISTEN`` channel of registry changes.
CHANNEL: Final = "jamey_registry"
#: ``pg_advisory_xact_lock`` key of schema creation and rotation: "JAMY".
_LOCK: Final = 0x4A414D59
_FORMAT: Final = b"jamey agent registry"
_META: Final = "jamey_registry_meta"
_AGENTS: Final = "jamey_agents"

#: The listen connection's ``application_name`` (as ``pg_stat_activity`` shows it).
LISTENER_NAME: Final = "jamey registry listener"
#: Seconds between health checks of the listen connection.
HEALTH_INTERVAL: Final = 2.0
_BACKOFF_FIRST: Final = 0.05
_BACKOFF_MAX: Final = 2.0

_SCHEMA: Final = f"""
CREATE TABLE {_META} (
    key text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE SEQUENCE jamey_agent_versions;
CREATE SEQUENCE jamey_agent_order;
CREATE TABLE {_AGENTS} (
    id text PRIMARY KEY,
    seq bigint NOT NULL DEFAULT nextval('jamey_agent_order'),
    version bigint NOT NULL DEFAULT 0,
    deleted boolean NOT NULL DEFAULT false,
    name text NOT NULL,
    url text NOT NULL,
    capabilities text[] NOT NULL,
    protocol text NOT NULL,
    endpoint text,
    binding text,
    key_header text,
    api_key bytea NOT NULL
);
CREATE FUNCTION jamey_agents_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := nextval('jamey_agent_versions');
    RETURN NEW;
END $$;
CREATE TRIGGER jamey_agents_version BEFORE INSERT OR UPDATE ON {_AGENTS}
    FOR EACH ROW EXECUTE FUNCTION jamey_agents_versioned();
CREATE FUNCTION jamey_agents_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object(
            'id', OLD.id, 'version', nextval('jamey_agent_versions'))::text);
    ELSE
        PERFORM pg_notify('{CHANNEL}', json_build_object(
            'id', NEW.id, 'version', NEW.version)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jamey_agents_changed AFTER INSERT OR UPDATE OR DELETE ON {_AGENTS}
    FOR EACH ROW EXECUTE FUNCTION jamey_agents_notify();
CREATE FUNCTION jamey_meta_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', json_build_object('meta', NEW.key)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER jamey_meta_changed AFTER INSERT OR UPDATE ON {_META}
    FOR EACH ROW EXECUTE FUNCTION jamey_meta_notify();
"""

_COLUMNS: Final = (
    "id, seq, version, deleted, name, url, capabilities, protocol, endpoint, binding, "
    "key_header, api_key"
)
_SELECT: Final = f"SELECT {_COLUMNS} FROM {_AGENTS}"  # noqa: S608 - constant text
_VALUES: Final = (
    "(id, name, url, capabilities, protocol, endpoint, binding, key_header, api_key) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_REVIVE: Final = (
    "name = EXCLUDED.name, url = EXCLUDED.url, capabilities = EXCLUDED.capabilities, "
    "protocol = EXCLUDED.protocol, endpoint = EXCLUDED.endpoint, binding = EXCLUDED.binding, "
    "key_header = EXCLUDED.key_header, api_key = EXCLUDED.api_key, deleted = false"
)
_INSERT: Final = (
    f"INSERT INTO {_AGENTS} {_VALUES} ON CONFLICT (id) DO UPDATE SET {_REVIVE}, "
    f"seq = nextval('jamey_agent_order') WHERE {_AGENTS}.deleted RETURNING seq, version"
)
_REPLACE: Final = (
    f"INSERT INTO {_AGENTS} {_VALUES} ON CONFLICT (id) DO UPDATE SET {_REVIVE}, "
    f"seq = CASE WHEN {_AGENTS}.deleted THEN nextval('jamey_agent_order') "
    f"ELSE {_AGENTS}.seq END RETURNING seq, version"
)
_DELETE: Final = (
    f"UPDATE {_AGENTS} SET deleted = true, name = '', url = '', capabilities = '{{}}', "  # noqa: S608
    "endpoint = NULL, binding = NULL, key_header = NULL, api_key = '\\x' "
    "WHERE id = $1 AND NOT deleted RETURNING version"
)

T = TypeVar("T")
_Pooled: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"  # generic for mypy only


def prepare_postgres_store(
    url: DatabaseUrl,
    state_dir: Path | None,
    *,
    timeout: float,
    on_problem: ProblemFn | None = None,
) -> PostgresAgentStore:
    """The store of the registry at ``url``, with the master key of this host.

    The key comes from ``JAMEY_SECRET_KEY``, else from an existing key file in the state
    directory; a shared registry never creates one (every host must have the same key).
    Reads files: call it in a thread; then ``await open()``.
    """
    return PostgresAgentStore(
        url, shared_master_key(state_dir), timeout=timeout, on_problem=on_problem
    )


def shared_master_key(
    state_dir: Path | None, environ: Mapping[str, str] | None = None
) -> KeyCipher:
    """The master key of a shared registry: never a key file made here."""
    try:
        cipher, _ = load_master_key(state_dir, environ, create=False)
    except KeyMismatch:
        raise
    except RegistryError as exc:
        if "No master key" not in str(exc):
            raise
        raise RegistryError(
            f"No master key for the shared agent registry: set {SECRET_KEY_VAR} to the same key "
            f"on every host (make one with: {MAKE_KEY_HINT}). A PostgreSQL registry never "
            f"creates a key file"
        ) from None
    return cipher


@final
class PostgresAgentStore:
    """An :class:`~jamey_agent_orchestration.store.base.AgentStore` on PostgreSQL (asyncpg)."""

    def __init__(
        self,
        url: DatabaseUrl,
        cipher: KeyCipher,
        *,
        timeout: float,
        on_problem: ProblemFn | None = None,
    ) -> None:
        self.url = url
        self._cipher = cipher
        self._timeout = timeout
        self._copy = RegistryCopy(on_problem)
        self._key_check = b""
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listen_conn: asyncpg.Connection | None = None
        self._pending: dict[str, int] = {}
        self._meta_changed = False
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._refusal: RegistryError | None = None
        #: Whether the listener is connected and its copy reloaded (for tests and operators).
        self.listening = False
        #: Full reloads so far (the first one at startup).
        self.reloads = 0

    def __repr__(self) -> str:
        return f"PostgresAgentStore({self.url.safe!r})"

    # -- opening and closing ---------------------------------------------------------------

    async def open(self) -> None:
        """Check (or create) the schema and the master key, subscribe, load; idempotent."""
        if self._pool is not None:
            return
        conn = await self._connect_listener()
        try:
            self._key_check = await self._adopt(conn)
            await self._reload(conn)
        except BaseException:
            conn.terminate()
            raise
        self._pool = asyncpg.create_pool(
            self.url.reveal(),
            min_size=0,
            max_size=4,
            timeout=self._timeout,
            command_timeout=self._timeout,
        )
        try:
            await self._guard(self._pool, "open the connection pool")
        except BaseException:
            conn.terminate()
            self._pool = None
            raise
        self.listening = True
        self._listen_conn = conn  # the listener's from now on; close() closes it even unstarted
        self._listener = asyncio.create_task(self._listen(), name="jamey-registry-listener")

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        conn, self._listen_conn = self._listen_conn, None
        if conn is not None:  # its task was cancelled before it started
            await _close(conn, self._timeout)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._timeout)
            except Exception:  # a database that does not answer: do not wait for its goodbye
                pool.terminate()
        self.listening = False

    async def _connect_listener(self) -> asyncpg.Connection:
        self._lost = asyncio.Event()
        lost = self._lost
        conn: asyncpg.Connection = await self._guard(
            asyncpg.connect(
                self.url.reveal(),
                timeout=self._timeout,
                server_settings={"application_name": LISTENER_NAME},
            ),
            f"connect to {self.url}",
        )
        try:
            conn.add_termination_listener(lambda _conn: self._lose(lost))
            await self._guard(conn.add_listener(CHANNEL, self._notified), "listen")
        except BaseException:
            conn.terminate()
            raise
        return conn

    def _lose(self, lost: asyncio.Event) -> None:
        lost.set()
        self._wake.set()  # the listener notices at once, not at its next health check

    async def _adopt(self, conn: asyncpg.Connection) -> bytes:
        """Create the schema in an empty database, or check it is ours; check the master key."""

        async def adopt() -> bytes:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
                listed = await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
                tables = {str(row[0]) for row in listed}
                if _META not in tables:
                    if tables:
                        named = ", ".join(sorted(tables)[:3])
                        raise self._not_ours(f"it holds other tables: {named}")
                    return await self._create_schema(conn)
                rows = await conn.fetch(f"SELECT key, value FROM {_META}")  # noqa: S608
                meta = {str(row[0]): bytes(row[1]) for row in rows}
                if meta.get("format") != _FORMAT or "key_check" not in meta:
                    raise self._not_ours(f"its table {_META} is not a jamey registry's")
                if _AGENTS not in tables:
                    raise self._not_ours(f"it has {_META} but no {_AGENTS}")
                version = int(meta.get("schema_version", b"0"))
                if version > SCHEMA_VERSION:
                    raise RegistryError(
                        f"The agent registry at {self.url} was written by a newer jamey (schema "
                        f"{version}, this one reads {SCHEMA_VERSION}); upgrade jamey"
                    )
                check_key(self._cipher, meta["key_check"])
                return meta["key_check"]

        return await self._guard(adopt(), "check the schema")

    async def _create_schema(self, conn: asyncpg.Connection) -> bytes:
        await conn.execute(_SCHEMA)
        key_check = make_key_check(self._cipher)
        await conn.executemany(
            f"INSERT INTO {_META} (key, value) VALUES ($1, $2)",  # noqa: S608
            [
                ("format", _FORMAT),
                ("schema_version", str(SCHEMA_VERSION).encode()),
                ("key_check", key_check),
            ],
        )
        return key_check

    def _not_ours(self, why: str) -> RegistryError:
        return RegistryError(
            f"The database at {self.url} is not a jamey agent registry ({why}); it was left "
            f"untouched. Give the registry a database of its own, or set "
            f"{REGISTRY_SETTING_VAR} to another one"
        )

    # -- errors ----------------------------------------------------------------------------

    async def _guard(self, awaitable: Awaitable[T], doing: str) -> T:
        """Await a database call within ``timeout``; any failure is ``Registry unavailable``."""
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except RegistryError:
            raise
        except TimeoutError:
            raise self._unavailable(
                f"no answer from {self.url} within {self._timeout:g} s ({doing})"
            ) from None
        except Exception as exc:  # asyncpg raises many kinds (see the module's docstring)
            raise self._unavailable(f"{self._reason(exc)} ({doing})") from None

    def _reason(self, exc: BaseException) -> str:
        text = self.url.scrub(str(exc))[:300]
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    def _unavailable(self, reason: str) -> RegistryError:
        return RegistryError(f"Registry unavailable: {reason}")

    # -- the listener ----------------------------------------------------------------------

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            change = json.loads(str(payload))
        except ValueError:
            return
        if "meta" in change:
            self._meta_changed = True
        elif isinstance(change.get("id"), str) and isinstance(change.get("version"), int):
            agent_id, version = change["id"], change["version"]
            self._pending[agent_id] = max(version, self._pending.get(agent_id, 0))
        self._wake.set()

    async def _listen(self) -> None:
        """Apply notifications until closed; after any loss, reconnect with backoff and reload."""
        try:
            await self._listen_forever()
        finally:
            conn, self._listen_conn = self._listen_conn, None
            if conn is not None:
                await _close(conn, self._timeout)

    async def _listen_forever(self) -> None:
        conn = self._listen_conn
        delay = _BACKOFF_FIRST
        while True:
            if conn is None:
                try:
                    conn = self._listen_conn = await self._connect_listener()
                    await self._reload(conn)
                except Exception as exc:
                    if conn is not None:
                        conn.terminate()
                        conn = self._listen_conn = None
                    logger.debug("agent registry: reconnecting failed: %s", self._reason(exc))
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                    delay = min(delay * 2, _BACKOFF_MAX)
                    continue
                pool = self._pool
                if pool is not None:
                    await pool.expire_connections()  # they may be connected to the server that went
                self.listening = True
                delay = _BACKOFF_FIRST
                logger.info("agent registry: connected to %s again, registry reloaded", self.url)
            try:
                await self._serve(conn)
            except Exception as exc:  # any error at all: the connection is lost
                logger.warning(
                    "agent registry: connection to %s lost (%s); reconnecting",
                    self.url,
                    self._reason(exc),
                )
            self.listening = False
            conn.terminate()  # not close(): a frozen peer never acknowledges a goodbye
            conn = self._listen_conn = None

    async def _serve(self, conn: asyncpg.Connection) -> None:
        while True:
            if self._lost.is_set() or conn.is_closed():
                raise ConnectionError("the listen connection was closed")
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(HEALTH_INTERVAL):
                        await self._wake.wait()
            if self._lost.is_set():
                raise ConnectionError("the listen connection was closed")
            if self._wake.is_set():
                self._wake.clear()
                await self._apply_pending(conn)
            else:
                await conn.fetchval("SELECT 1", timeout=min(self._timeout, HEALTH_INTERVAL * 2))

    async def _apply_pending(self, conn: asyncpg.Connection) -> None:
        if self._meta_changed:
            self._meta_changed = False
            await self._check_key_check(conn)
        pending, self._pending = self._pending, {}
        wanted = [
            agent_id
            for agent_id, version in pending.items()
            if version > self._copy.version_of(agent_id)
        ]
        if not wanted or self._refusal is not None:
            return
        rows = await conn.fetch(
            _SELECT + " WHERE id = ANY($1::text[])", wanted, timeout=self._timeout
        )
        found = {row["id"] for row in rows}
        await self._apply(rows)
        for agent_id in wanted:
            if agent_id not in found:  # deleted outside jamey: gone at the notified version
                self._copy.remove(agent_id, pending[agent_id])

    async def _check_key_check(self, conn: asyncpg.Connection) -> None:
        value = await conn.fetchval(
            f"SELECT value FROM {_META} WHERE key = 'key_check'",  # noqa: S608
            timeout=self._timeout,
        )
        if value is None or bytes(value) != self._key_check:
            self._refuse()

    def _still_our_key(self, value: bytes | None) -> None:
        """Raise (and drop the copy) if the registry's key check is no longer this host's."""
        if value is None or bytes(value) != self._key_check:
            self._refuse()
            assert self._refusal is not None
            raise self._refusal

    def _refuse(self) -> None:
        if self._refusal is None:
            self._refusal = MasterKeyRotated(
                f"The master key of the shared agent registry at {self.url} was rotated; "
                f"restart this host with the new key (nothing was written)"
            )
            logger.warning("agent registry: %s", self._refusal)
        self._copy.clear()

    async def _reload(self, conn: asyncpg.Connection) -> None:
        """Replace the copy with the database's rows (at startup and after a lost connection)."""

        async def load() -> None:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await self._check_key_check(conn)
                if self._refusal is not None:
                    return
                rows = await conn.fetch(_SELECT + " WHERE NOT deleted ORDER BY seq")
            self._pending.clear()  # the load has everything they announced
            self._copy.replace_all(await self._entries(rows))
            self.reloads += 1

        await self._guard(load(), "load the registry")

    async def _entries(self, rows: Sequence[asyncpg.Record]) -> list[StoredAgent]:
        """Decrypt rows the copy does not hold at their version (in a thread when many)."""
        known = self._copy.entries()
        reused: list[StoredAgent] = []
        fresh: list[asyncpg.Record] = []
        for row in rows:
            held = known.get(row["id"])
            if held is not None and held.version == row["version"] and held.seq == row["seq"]:
                reused.append(held)
            else:
                fresh.append(row)
        if len(fresh) > 64:
            opened = await asyncio.to_thread(self._open_rows, fresh)
        else:
            opened = self._open_rows(fresh)
        return reused + opened

    def _open_rows(self, rows: Iterable[asyncpg.Record]) -> list[StoredAgent]:
        return [
            _record(row).open(self._cipher, seq=row["seq"], version=row["version"]) for row in rows
        ]

    async def _apply(self, rows: Sequence[asyncpg.Record]) -> None:
        live = [row for row in rows if not row["deleted"]]
        for row in rows:
            if row["deleted"]:
                self._copy.remove(row["id"], row["version"])
        for entry in await self._entries(live):
            self._copy.put(entry)

    # -- writes ----------------------------------------------------------------------------

    async def _write(self, operation: Callable[[_Pooled], Awaitable[T]]) -> T:
        """One write transaction on a pooled connection, within ``timeout``, all or nothing."""
        if self._refusal is not None:
            raise self._refusal
        pool = self._pool
        if pool is None:
            raise RegistryError(f"The agent registry at {self.url} is not open")

        async def write() -> T:
            conn = await pool.acquire()
            try:
                async with conn.transaction():
                    value = await conn.fetchval(
                        f"SELECT value FROM {_META} WHERE key = 'key_check' FOR SHARE"  # noqa: S608
                    )
                    self._still_our_key(value)
                    return await operation(conn)
            except RegistryError:
                raise
            except BaseException:
                conn.terminate()  # never reuse a connection whose state is unknown
                raise
            finally:
                await pool.release(conn)

        return await self._guard(write(), "write")

    async def insert(self, agent: Agent) -> bool:
        record = AgentRecord.seal(agent, self._cipher)
        row = await self._write(lambda conn: conn.fetchrow(_INSERT, *_arguments(record)))
        if row is None:
            return False
        self._copy.put(
            StoredAgent(id=agent.id, seq=row["seq"], version=row["version"], agent=agent)
        )
        return True

    async def replace(self, agent: Agent) -> bool:
        record = AgentRecord.seal(agent, self._cipher)

        async def replace(conn: _Pooled) -> tuple[bool, asyncpg.Record]:
            live = await conn.fetchval(
                f"SELECT NOT deleted FROM {_AGENTS} WHERE id = $1 FOR UPDATE",  # noqa: S608
                agent.id,
            )
            row = await conn.fetchrow(_REPLACE, *_arguments(record))
            assert row is not None
            return bool(live), row

        existed, row = await self._write(replace)
        self._copy.put(
            StoredAgent(id=agent.id, seq=row["seq"], version=row["version"], agent=agent)
        )
        return existed

    def _hold(self, agent: Agent, row: asyncpg.Record) -> None:
        # Our own write: the copy has it now (read-your-writes), decrypted never.
        self._copy.put(
            StoredAgent(id=agent.id, seq=row["seq"], version=row["version"], agent=agent)
        )

    async def delete(self, agent_id: str) -> bool:
        version = await self._write(lambda conn: conn.fetchval(_DELETE, agent_id))
        if version is None:
            return False
        self._copy.remove(agent_id, version)
        return True

    # -- reads -----------------------------------------------------------------------------

    def _current(self) -> RegistryCopy:
        if self._refusal is not None:
            raise self._refusal
        return self._copy

    async def get(self, agent_id: str) -> Agent | None:
        copy = self._current()
        if copy.entry(agent_id) is not None:
            return copy.get(agent_id)
        pool = self._pool
        if pool is None:
            raise RegistryError(f"The agent registry at {self.url} is not open")

        async def fetch() -> asyncpg.Record | None:
            async with pool.acquire() as conn:
                try:
                    return await conn.fetchrow(_SELECT + " WHERE id = $1", agent_id)
                except BaseException:
                    conn.terminate()
                    raise

        row = await self._guard(fetch(), "read")
        if row is None:
            return None
        await self._apply([row])
        return self._current().get(agent_id)

    async def list(self) -> list[Agent]:
        return self._current().list()

    async def next_for_capability(
        self, capability: str, exclude: Collection[str] = ()
    ) -> Agent | None:
        """Round-robin over the copy; each host keeps its own turns."""
        return self._current().next_for_capability(capability, exclude)


async def _close(conn: asyncpg.Connection, timeout: float) -> None:
    """Close with a goodbye if the server answers within ``timeout``; else drop the socket."""
    try:
        await asyncio.wait_for(conn.close(), timeout)
    except Exception:
        conn.terminate()


def _arguments(record: AgentRecord) -> tuple[Any, ...]:
    return (
        record.id,
        record.name,
        record.url,
        list(record.capabilities),
        record.protocol,
        record.endpoint,
        record.binding,
        record.key_header,
        record.api_key,
    )


def _record(row: asyncpg.Record) -> AgentRecord:
    # asyncpg's items are Any: converted to the store's own types here, in one place.
    return AgentRecord(
        id=str(row["id"]),
        name=str(row["name"]),
        url=str(row["url"]),
        capabilities=tuple(str(c) for c in row["capabilities"]),
        protocol=str(row["protocol"]),
        endpoint=None if row["endpoint"] is None else str(row["endpoint"]),
        binding=None if row["binding"] is None else str(row["binding"]),
        key_header=None if row["key_header"] is None else str(row["key_header"]),
        api_key=bytes(row["api_key"]),
    )


async def rotate_postgres_master_key(
    url: DatabaseUrl, old_cipher: KeyCipher, new_cipher: KeyCipher, *, timeout: float = 30.0
) -> int:
    """Re-encrypt every stored key under ``new_cipher`` in one transaction; return how many.

    The registry must exist and open with ``old_cipher``; on any error nothing is changed. Hosts
    still running with the old key refuse to read or write once the rotation commits.
    """
    store = PostgresAgentStore(url, old_cipher, timeout=timeout)

    async def rotate() -> int:
        conn: asyncpg.Connection = await asyncpg.connect(url.reveal(), timeout=timeout)
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
                exists = await conn.fetchval(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename = $1",
                    _META,
                )
                if not exists:
                    raise RegistryError(f"There is no agent registry at {url}")
                old_check = await store._adopt(conn)
                key_check = make_key_check(new_cipher)
                # The key check first: hosts hear of the rotation before the re-encrypted rows.
                await conn.execute(
                    f"UPDATE {_META} SET value = $1 WHERE key = 'key_check' AND value = $2",  # noqa: S608
                    key_check,
                    old_check,
                )
                rows = await conn.fetch(_SELECT + " WHERE NOT deleted FOR UPDATE")
                updates = []
                for row in rows:
                    record = _record(row)
                    entry = record.open(old_cipher, seq=row["seq"], version=row["version"])
                    if entry.problem is not None:
                        raise RegistryError(
                            f"{entry.problem} (before rotating the master key; nothing was changed)"
                        )
                    updates.append((record.resealed(old_cipher, new_cipher).api_key, record.id))
                await conn.executemany(
                    f"UPDATE {_AGENTS} SET api_key = $1 WHERE id = $2",  # noqa: S608
                    updates,
                )
                return len(updates)
        finally:
            await _close(conn, timeout)

    return await store._guard(rotate(), "rotate the master key")
