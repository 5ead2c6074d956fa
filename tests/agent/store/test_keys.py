"""The master key and the cipher of API keys at rest, and the rotate-key command."""

from __future__ import annotations

import base64
import io
import os
import pickle
import stat
import sys
import threading
from pathlib import Path

import attrs
import pytest

from jamey_agent_orchestration.commands.rotate_key import ROTATE_KEY_COMMAND, rotate_key
from jamey_agent_orchestration.model import Agent, ApiKey
from jamey_agent_orchestration.store import RegistryError
from jamey_agent_orchestration.store.keys import (
    KeyBinding,
    KeyCipher,
    KeyMismatch,
    generate_master_key,
    load_master_key,
)
from jamey_agent_orchestration.store.sqlite import SqliteAgentStore
from jamey_host import CliCommand

KEY = generate_master_key()
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def bound(agent_id: str = "a1", **fields: str | None) -> KeyBinding:
    return KeyBinding(agent_id=agent_id, url="https://a.example/", **fields)  # type: ignore[arg-type]


def test_round_trip_is_bound_to_the_agent_id() -> None:
    cipher = KeyCipher.from_text(KEY, source="JAMEY_SECRET_KEY")
    blob = cipher.encrypt(bound(), ApiKey("sk-secret"))
    assert b"sk-secret" not in blob
    assert cipher.encrypt(bound(), ApiKey("sk-secret")) != blob  # a fresh nonce each time
    assert cipher.decrypt(bound(), blob) == ApiKey("sk-secret")
    with pytest.raises(KeyMismatch, match="do not decrypt"):
        cipher.decrypt(bound("a2"), blob)
    with pytest.raises(KeyMismatch, match="unknown format"):
        cipher.decrypt(bound(), b"\x01" + blob[1:])


@pytest.mark.parametrize(
    "changed",
    [
        {"url": "https://evil.example/"},
        {"protocol": "a2a"},
        {"endpoint": "https://evil.example/a2a"},
        {"binding": "HTTP+JSON"},
        {"key_header": "X-Api-Key"},
    ],
    ids=lambda changed: next(iter(changed)),
)
def test_the_key_is_bound_to_everything_that_decides_where_it_goes(
    changed: dict[str, str],
) -> None:
    cipher = KeyCipher.from_text(KEY, source="JAMEY_SECRET_KEY")
    original = KeyBinding(
        agent_id="a1",
        url="https://a.example/",
        protocol="a2a",
        endpoint="https://a.example/a2a",
        binding="JSONRPC",
        key_header=None,
    )
    blob = cipher.encrypt(original, ApiKey("sk-secret"))
    assert cipher.decrypt(original, blob) == ApiKey("sk-secret")
    tampered = attrs.evolve(original, **changed)
    if tampered == original:  # protocol a2a -> a2a: try jamey instead
        tampered = attrs.evolve(original, protocol="jamey")
    with pytest.raises(KeyMismatch):
        cipher.decrypt(tampered, blob)


def test_a_wrong_key_names_what_to_set_and_never_the_key() -> None:
    blob = KeyCipher.from_text(KEY, source="JAMEY_SECRET_KEY").encrypt(bound(), ApiKey("sk-x"))
    other = generate_master_key()
    with pytest.raises(RegistryError) as caught:
        KeyCipher.from_text(other, source="JAMEY_SECRET_KEY").decrypt(bound(), blob)
    message = str(caught.value)
    assert "JAMEY_SECRET_KEY" in message
    assert other not in message
    assert KEY not in message
    assert "sk-x" not in message


def test_cipher_hides_its_key() -> None:
    cipher = KeyCipher.from_text(KEY, source="JAMEY_SECRET_KEY")
    assert KEY not in repr(cipher)
    with pytest.raises(TypeError):
        pickle.dumps(cipher)


@pytest.mark.parametrize(
    "bad",
    ["short", base64.urlsafe_b64encode(b"x" * 16).decode(), "!" * 44, KEY + "AAAA"],
)
def test_a_malformed_secret_key_says_how_to_make_one(bad: str, tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        load_master_key(tmp_path, {"JAMEY_SECRET_KEY": bad})
    assert "JAMEY_SECRET_KEY is not a master key" in str(caught.value)
    assert "secrets.token_bytes(32)" in str(caught.value)
    assert bad not in str(caught.value)
    assert not (tmp_path / "secret.key").exists()


def test_the_environment_wins_and_accepts_unpadded_and_fernet_keys(tmp_path: Path) -> None:
    cipher, created = load_master_key(tmp_path, {"JAMEY_SECRET_KEY": KEY.rstrip("=")})
    assert created is None
    assert cipher.source == "JAMEY_SECRET_KEY"
    assert not list(tmp_path.iterdir())
    from cryptography.fernet import Fernet

    load_master_key(None, {"JAMEY_SECRET_KEY": Fernet.generate_key().decode()})


def test_no_key_and_no_state_dir_names_the_variable() -> None:
    with pytest.raises(RegistryError, match="set JAMEY_SECRET_KEY"):
        load_master_key(None, {})


@posix_only
def test_a_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, created = load_master_key(state, {})
    assert created == state / "secret.key"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    second, again = load_master_key(state, {})
    assert again is None
    blob = first.encrypt(bound("a"), ApiKey("k"))
    assert second.decrypt(bound("a"), blob) == ApiKey("k")
    assert sorted(p.name for p in state.iterdir()) == ["secret.key"]  # no temporary left


def test_racing_creators_agree_on_one_key(tmp_path: Path) -> None:
    results: list[tuple[KeyCipher, Path | None]] = []
    barrier = threading.Barrier(8)

    def load() -> None:
        barrier.wait()
        results.append(load_master_key(tmp_path, {}))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for _, created in results if created is not None) == 1
    blob = results[0][0].encrypt(bound("a"), ApiKey("k"))
    assert all(cipher.decrypt(bound("a"), blob) == ApiKey("k") for cipher, _ in results)


def test_create_false_refuses_to_invent_a_key(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"set JAMEY_SECRET_KEY, or restore the key file"):
        load_master_key(tmp_path, {}, create=False)
    assert not (tmp_path / "secret.key").exists()


@posix_only
def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    _, created = load_master_key(tmp_path, {})
    assert created is not None
    created.chmod(0o644)
    with pytest.raises(RegistryError, match="chmod 600"):
        load_master_key(tmp_path, {})


def test_a_damaged_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("garbage\n")
    (tmp_path / "secret.key").chmod(0o600)
    with pytest.raises(RegistryError, match=r"the key file .* is not a master key"):
        load_master_key(tmp_path, {})
    assert (tmp_path / "secret.key").read_text() == "garbage\n"


# -- rotate-key command ---------------------------------------------------------------------


def test_the_command_is_a_cli_command() -> None:
    assert isinstance(ROTATE_KEY_COMMAND, CliCommand)
    import argparse

    parser = argparse.ArgumentParser()
    assert ROTATE_KEY_COMMAND.configure is not None
    ROTATE_KEY_COMMAND.configure(parser)
    args = parser.parse_args(["--registry", "x.db", "--new-key-env", "NEW"])
    assert args.registry == Path("x.db")
    assert args.new_key_env == "NEW"


async def _fill(path: Path, cipher: KeyCipher) -> None:
    store = SqliteAgentStore(path, cipher)
    await store.open()
    try:
        for n in range(5):
            agent = Agent(id=f"a{n}", name="A", url="https://a.example/", api_key=ApiKey(f"sk-{n}"))
            await store.insert(agent)
    finally:
        await store.close()


async def _keys(path: Path, cipher: KeyCipher) -> list[str]:
    store = SqliteAgentStore(path, cipher)
    await store.open()
    try:
        return [agent.api_key.reveal() for agent in await store.list()]
    finally:
        await store.close()


async def test_rotating_the_key_file(tmp_path: Path) -> None:
    env = {"JAMEY_HOME": str(tmp_path)}
    old, created = load_master_key(tmp_path, env)
    assert created is not None
    old_text = created.read_text()
    await _fill(tmp_path / "agents.db", old)
    out, err = io.StringIO(), io.StringIO()
    assert rotate_key(None, None, environ=env, out=out, err=err) == 0, err.getvalue()
    assert "Re-encrypted 5 agent key(s)" in out.getvalue()
    assert created.read_text() != old_text
    assert old_text.strip() not in out.getvalue() + err.getvalue()
    assert [name for name in os.listdir(tmp_path) if "secret" in name] == ["secret.key"]
    if sys.platform != "win32":
        assert stat.S_IMODE(created.stat().st_mode) == 0o600
    new, _ = load_master_key(tmp_path, env, create=False)
    assert await _keys(tmp_path / "agents.db", new) == [f"sk-{n}" for n in range(5)]


async def test_rotating_a_key_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    await _fill(db, KeyCipher.from_text(KEY, source="JAMEY_SECRET_KEY"))
    env = {"JAMEY_HOME": str(tmp_path), "JAMEY_SECRET_KEY": KEY}
    err = io.StringIO()
    assert rotate_key(db, None, environ=env, out=io.StringIO(), err=err) == 2
    assert "--new-key-env" in err.getvalue()
    assert rotate_key(db, "NEW_KEY", environ=env, out=io.StringIO(), err=err) == 2
    new_text = generate_master_key()
    out = io.StringIO()
    env["NEW_KEY"] = new_text
    assert rotate_key(db, "NEW_KEY", environ=env, out=out, err=err) == 0
    assert "set JAMEY_SECRET_KEY to the value of NEW_KEY" in out.getvalue()
    new = KeyCipher.from_text(new_text, source="JAMEY_SECRET_KEY")
    assert await _keys(db, new) == [f"sk-{n}" for n in range(5)]
    # Rotating again with the old key fails clearly and changes nothing.
    before = db.read_bytes()
    env["NEW_KEY"] = generate_master_key()
    assert rotate_key(db, "NEW_KEY", environ=env, out=out, err=(err := io.StringIO())) == 1
    assert "JAMEY_SECRET_KEY" in err.getvalue()
    assert db.read_bytes() == before


def test_rotating_without_a_registry(tmp_path: Path) -> None:
    err = io.StringIO()
    env = {"JAMEY_HOME": str(tmp_path)}
    assert rotate_key(None, None, environ=env, out=io.StringIO(), err=err) == 1
    assert "no agent registry" in err.getvalue()
    assert not os.listdir(tmp_path)
