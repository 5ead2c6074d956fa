"""SQLite schema 2: a registry of the first release migrated, keys bound to their records, the
A2A fields kept, a deleted or replaced file noticed, and changes of other processes seen."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jamey_agent_orchestration.model import Agent, ApiKey
from jamey_agent_orchestration.store import MemoryAgentStore, RegistryError
from jamey_agent_orchestration.store.keys import KeyCipher, generate_master_key, parse_master_key
from jamey_agent_orchestration.store.sqlite import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    SqliteAgentStore,
    rotate_master_key,
)

CANARY = "sk-canary-2b9e51d7c4a8-never-stored"
KEY_TEXT = generate_master_key()

# The schema of the first release (git 11f34dc, sqlite_store.py), as it was released.
V1_SCHEMA = (
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


def cipher(text: str = KEY_TEXT) -> KeyCipher:
    return KeyCipher.from_text(text, source="JAMEY_SECRET_KEY")


def _v1_encrypt(key_text: str, associated: bytes, plaintext: bytes) -> bytes:
    """The first release's ciphertext: version 1, a nonce, AES-GCM with the agent id as AAD."""
    aead = AESGCM(parse_master_key(key_text, "test"))
    nonce = secrets.token_bytes(12)
    return b"\x01" + nonce + aead.encrypt(nonce, plaintext, associated)


def make_v1_registry(path: Path, agents: list[tuple[str, str, str, str, list[str]]]) -> None:
    """A registry file as the first release wrote it: (id, name, url, key, capabilities)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in V1_SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        key_check = _v1_encrypt(KEY_TEXT, b"jamey agent registry key check", b"jamey")
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("format", "jamey agent registry"), ("key_check", key_check)],
        )
        for agent_id, name, url, key, capabilities in agents:
            blob = _v1_encrypt(KEY_TEXT, agent_id.encode(), key.encode())
            cursor = conn.execute(
                "INSERT INTO agents (id, name, url, api_key, capabilities) VALUES (?, ?, ?, ?, ?)",
                (agent_id, name, url, blob, json.dumps(capabilities)),
            )
            conn.executemany(
                "INSERT INTO capabilities (capability, agent_seq) VALUES (?, ?)",
                [(capability, cursor.lastrowid) for capability in capabilities],
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
    os.chmod(path, 0o600)


def edit_outside_jamey(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    """Change the registry file as sqlite3 would, without jamey or its master key: one
    transaction of ``statements``, each run with ``params``."""
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement, params)
    conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remove_registry(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def a2a_agent(n: int = 1, *, key: str = CANARY) -> Agent:
    return Agent(
        id=f"a2a-{n}",
        name=f"A2A {n}",
        url=f"https://a2a{n}.example/",
        api_key=ApiKey(key),
        capabilities=("summarize", "translate"),
        protocol="a2a",
        endpoint=f"https://a2a{n}.example/rpc",
        binding="JSONRPC",
        key_header="X-Api-Key",
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "agents.db"


async def opened(path: Path, text: str = KEY_TEXT, **options: object) -> SqliteAgentStore:
    store = SqliteAgentStore(path, cipher(text), **options)  # type: ignore[arg-type]
    await store.open()
    return store


async def test_a_first_release_registry_is_migrated_and_keeps_everything(db_path: Path) -> None:
    make_v1_registry(
        db_path,
        [
            ("alpha", "Alpha", "https://alpha.example/", CANARY, ["echo"]),
            ("beta", "Beta", "https://beta.example/x", "key-beta", ["echo", "sum"]),
        ],
    )
    store = await opened(db_path)
    try:
        assert [a.id for a in await store.list()] == ["alpha", "beta"]
        alpha = await store.get("alpha")
        assert alpha is not None
        assert alpha.api_key == ApiKey(CANARY)
        assert (alpha.protocol, alpha.endpoint, alpha.binding, alpha.key_header) == (
            "jamey",
            None,
            None,
            None,
        )
        beta = await store.get("beta")
        assert beta is not None
        assert str(beta.url) == "https://beta.example/x"
        assert beta.capabilities == ("echo", "sum")
        assert [(await store.next_for_capability("echo")).id for _ in range(3)] == [  # type: ignore[union-attr]
            "alpha",
            "beta",
            "alpha",
        ]
        assert await store.insert(a2a_agent())
    finally:
        await store.close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        blobs = [row[0] for row in conn.execute("SELECT api_key FROM agents")]
        assert all(blob[:1] == b"\x02" for blob in blobs)  # every key under its binding now
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert CANARY not in dump
    for path in db_path.parent.iterdir():
        assert CANARY.encode() not in path.read_bytes(), path


async def test_migration_with_a_wrong_key_changes_nothing(db_path: Path) -> None:
    make_v1_registry(db_path, [("alpha", "Alpha", "https://alpha.example/", "k", [])])
    before = digest(db_path)
    store = SqliteAgentStore(db_path, cipher(generate_master_key()))
    with pytest.raises(RegistryError, match="do not decrypt"):
        await store.open()
    await store.close()
    assert digest(db_path) == before
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        conn.close()


async def test_a_schema_1_row_tampered_before_migration_is_never_usable(db_path: Path) -> None:
    make_v1_registry(
        db_path,
        [
            ("alpha", "Alpha", "https://alpha.example/", "k-alpha", []),
            ("beta", "Beta", "https://beta.example/", "k-beta", []),
        ],
    )
    # schema 1 bound the key to the id only: the URL could be changed
    edit_outside_jamey(
        db_path,
        "UPDATE agents SET api_key = (SELECT api_key FROM agents WHERE id='beta') "
        "WHERE id = 'alpha'",
    )
    problems: list[tuple[str, str]] = []
    store = await opened(db_path, on_problem=lambda i, m: problems.append((i, m)))
    try:
        with pytest.raises(RegistryError, match="agent alpha does not match its record"):
            await store.get("alpha")
        assert [a.id for a in await store.list()] == ["beta"]
        assert [agent_id for agent_id, _ in problems] == ["alpha"]
    finally:
        await store.close()


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
async def test_a2a_fields_round_trip(db_path: Path, store_kind: str) -> None:
    store = MemoryAgentStore() if store_kind == "memory" else SqliteAgentStore(db_path, cipher())
    await store.open()
    try:
        assert await store.insert(a2a_agent())
        assert await store.get("a2a-1") == a2a_agent()
        assert await store.replace(a2a_agent(key="rotated"))
        assert await store.list() == [a2a_agent(key="rotated")]
    finally:
        await store.close()
    if store_kind == "sqlite":  # and through a restart, read back from the file
        again = await opened(db_path)
        try:
            assert await again.list() == [a2a_agent(key="rotated")]
        finally:
            await again.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("url", "https://attacker.example/"),
        ("protocol", "jamey"),
        ("endpoint", "https://attacker.example/rpc"),
        ("binding", "HTTP+JSON"),
        ("key_header", "Authorization"),
        ("id", "a2a-9"),
    ],
)
async def test_a_record_edited_without_the_master_key_is_never_sent_its_key(
    db_path: Path, column: str, value: str
) -> None:
    store = await opened(db_path)
    await store.insert(a2a_agent(1))
    await store.insert(a2a_agent(2))
    await store.close()
    edit_outside_jamey(
        db_path, f"UPDATE agents SET {column} = ? WHERE id = 'a2a-1'", params=(value,)
    )
    problems: list[tuple[str, str]] = []
    store = await opened(db_path, on_problem=lambda i, m: problems.append((i, m)))
    try:
        tampered_id = value if column == "id" else "a2a-1"
        with pytest.raises(RegistryError, match=f"agent {tampered_id} does not match") as caught:
            await store.get(tampered_id)
        assert CANARY not in str(caught.value)
        assert [a.id for a in await store.list()] == ["a2a-2"]
        assert await store.next_for_capability("summarize") == a2a_agent(2)
        assert await store.next_for_capability("summarize") == a2a_agent(2)
        assert [agent_id for agent_id, _ in problems] == [tampered_id]
        assert CANARY not in problems[0][1]
        # Registering it again (the master key's holder) makes it usable.
        assert await store.replace(a2a_agent(1)) == (column != "id")
        assert await store.get("a2a-1") == a2a_agent(1)
    finally:
        await store.close()


async def test_a_running_store_keeps_what_it_verified_and_sees_a_tampered_version(
    db_path: Path,
) -> None:
    problems: list[str] = []
    store = await opened(db_path, on_problem=lambda i, m: problems.append(i))
    try:
        await store.insert(a2a_agent(1))
        assert await store.get("a2a-1") == a2a_agent(1)
        # an edit outside jamey: the copy keeps the record it verified
        edit_outside_jamey(db_path, "UPDATE agents SET url = 'https://attacker.example/'")
        assert await store.get("a2a-1") == a2a_agent(1)
        # the same edit, as a change jamey would reload
        edit_outside_jamey(
            db_path,
            "UPDATE agents SET version = version + 100",
            "UPDATE meta SET value = value + 100 WHERE key = 'generation'",
        )
        with pytest.raises(RegistryError, match="does not match its record"):
            await store.get("a2a-1")
        assert problems == ["a2a-1"]
    finally:
        await store.close()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_registry_file_gone_from_under_a_running_store_fails_writes(
    db_path: Path, how: str
) -> None:
    store = await opened(db_path)
    try:
        assert await store.insert(a2a_agent(1))
        remove_registry(db_path)
        if how == "replaced":
            other = await opened(db_path)
            await other.close()
        with pytest.raises(RegistryError, match=f"was {how}") as caught:
            await store.insert(a2a_agent(2))
        assert "nothing was written" in str(caught.value)
        with pytest.raises(RegistryError, match=f"was {how}"):
            await store.replace(a2a_agent(1))
        with pytest.raises(RegistryError, match=f"was {how}"):
            await store.delete("a2a-1")
    finally:
        await store.close()
    if how == "replaced":  # the new file got nothing of the failed writes
        again = await opened(db_path)
        try:
            assert await again.list() == []
        finally:
            await again.close()


async def test_changes_of_another_store_are_seen_on_the_next_read(db_path: Path) -> None:
    writer, reader = await opened(db_path), await opened(db_path)
    try:
        assert await reader.list() == []
        await writer.insert(a2a_agent(1))
        assert await reader.get("a2a-1") == a2a_agent(1)
        await writer.replace(a2a_agent(1, key="new"))
        assert await reader.get("a2a-1") == a2a_agent(1, key="new")
        await writer.insert(a2a_agent(2))
        assert [a.id for a in await reader.list()] == ["a2a-1", "a2a-2"]
        await writer.delete("a2a-1")
        assert await reader.get("a2a-1") is None
        assert [a.id for a in await reader.list()] == ["a2a-2"]
        # The reader's own writes are seen by it at once, and by the writer.
        await reader.insert(a2a_agent(3))
        assert [a.id for a in await reader.list()] == ["a2a-2", "a2a-3"]
        assert [a.id for a in await writer.list()] == ["a2a-2", "a2a-3"]
    finally:
        await writer.close()
        await reader.close()


async def test_a_rotation_by_another_process_refuses_reads_too(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        await store.insert(a2a_agent(1))
        assert await store.get("a2a-1") == a2a_agent(1)
        new_text = generate_master_key()
        assert rotate_master_key(db_path, cipher(), cipher(new_text)) == 1
        for read in (store.get("a2a-1"), store.list()):
            with pytest.raises(RegistryError, match="rotated by another process"):
                await read
        rotated = await opened(db_path, new_text)
        try:
            assert await rotated.get("a2a-1") == a2a_agent(1)
        finally:
            await rotated.close()
    finally:
        await store.close()


async def test_a_rotation_refuses_a_tampered_row_and_changes_nothing(db_path: Path) -> None:
    store = await opened(db_path)
    await store.insert(a2a_agent(1))
    await store.insert(a2a_agent(2))
    await store.close()
    edit_outside_jamey(
        db_path, "UPDATE agents SET url = 'https://attacker.example/' WHERE id = 'a2a-2'"
    )
    before = digest(db_path)
    with pytest.raises(RegistryError, match=r"agent a2a-2 does not match.*nothing was changed"):
        rotate_master_key(db_path, cipher(), cipher(generate_master_key()))
    assert digest(db_path) == before
