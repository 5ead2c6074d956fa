"""Agents' API keys at rest: the master key and the authenticated cipher under it.

Keys are encrypted with AES-256-GCM. The associated data is the key's :class:`KeyBinding`:
everything that decides where the key is sent (the agent id, its URL, protocol, A2A interface
URL and binding, and the header it goes in). So a ciphertext copied onto another agent's row, or
left on a row whose URL was edited without the master key, does not decrypt: the key is never
sent anywhere it was not registered for. The master key is 32 random bytes, written
as URL-safe base64 (the same text format as a Fernet key). It comes from ``JAMEY_SECRET_KEY``,
else from the key file ``secret.key`` (:func:`key_directory` says where), created with mode 0600
on first use.

Nothing here logs or formats a key: error messages name where a key comes from, never its value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final, NoReturn, final

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jamey_agent_orchestration.model import Agent, ApiKey, SecurityViolation
from jamey_agent_orchestration.store.base import RegistryError
from jamey_host import SECRET_KEY_VAR

__all__ = [
    "KEY_FILE_NAME",
    "MAKE_KEY_HINT",
    "KeyBinding",
    "KeyCipher",
    "KeyMismatch",
    "MasterKeyRotated",
    "check_key",
    "generate_master_key",
    "key_directory",
    "load_master_key",
    "make_key_check",
    "parse_master_key",
    "pending_key_file",
    "tampered_error",
    "write_key_file",
]

KEY_FILE_NAME: Final = "secret.key"
MAKE_KEY_HINT: Final = (
    'python -c "import secrets,base64;'
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)

# Ciphertext layout: a version byte, a 12-byte nonce, the AES-GCM output. Version 1 (schema 1
# registries) was bound to the agent id alone; it is read only to migrate such a registry.
_VERSION: Final = b"\x02"
_VERSION_1: Final = b"\x01"
_BINDING_LABEL: Final = "jamey agent key v2"
# The key check: a known plaintext under the master key, so that a store can refuse a wrong key
# before it reads or writes anything.
_KEY_CHECK_AAD: Final = b"jamey agent registry key check"
_KEY_CHECK_PLAINTEXT: Final = b"jamey"


class KeyMismatch(RegistryError):
    """A ciphertext that does not open: a wrong master key, or a record changed around it."""


class MasterKeyRotated(RegistryError):
    """Another process rotated the registry's master key: this store's key no longer opens it."""


_NONCE_BYTES: Final = 12
_KEY_BYTES: Final = 32


def generate_master_key() -> str:
    """A new master key, as the URL-safe base64 text that ``JAMEY_SECRET_KEY`` takes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")


def parse_master_key(text: str, source: str) -> bytes:
    """The 32 key bytes of ``text``; ``source`` names where it came from in the error."""
    value = text.strip()
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise RegistryError(
            f"{source} is not a master key: expected 32 bytes in URL-safe base64. "
            f"Make one with: {MAKE_KEY_HINT}"
        )
    return raw


@attrs.frozen(kw_only=True)
class KeyBinding:
    """What a stored API key is bound to: everything that decides where it is sent.

    Built from an :class:`Agent` to store its key, and from a stored row (its text, as stored)
    to read it back; a row edited without the master key no longer matches its ciphertext.
    """

    agent_id: str
    url: str
    protocol: str = "jamey"
    endpoint: str | None = None
    binding: str | None = None
    key_header: str | None = None

    @classmethod
    def of(cls, agent: Agent) -> KeyBinding:
        return cls(
            agent_id=agent.id,
            url=str(agent.url),
            protocol=agent.protocol,
            endpoint=None if agent.endpoint is None else str(agent.endpoint),
            binding=agent.binding,
            key_header=agent.key_header,
        )

    def associated_data(self) -> bytes:
        # JSON of a fixed list: unambiguous (no field can run into the next), and stable.
        fields = [
            _BINDING_LABEL,
            self.agent_id,
            self.url,
            self.protocol,
            self.endpoint,
            self.binding,
            self.key_header,
        ]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def tampered_error(agent_id: str) -> RegistryError:
    """A stored key that does not open under its row, once the master key is known to be right."""
    return RegistryError(
        f"The stored API key of agent {agent_id} does not match its record: its URL, protocol or "
        f"interface was changed outside jamey, or the key was copied from another agent. Nothing "
        f"was sent to it; register it again with replace=true"
    )


@final
class KeyCipher:
    """Encrypts and decrypts API keys under one master key.

    ``source`` says where the key came from (``JAMEY_SECRET_KEY`` or the key file), for error
    messages; ``repr`` shows only that.
    """

    __slots__ = ("_aead", "hint", "source")

    def __init__(self, key: bytes, *, source: str, hint: str = "") -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError("a master key is 32 bytes")
        self._aead = AESGCM(key)
        self.source = source
        #: Extra advice appended to a wrong-key error (e.g. an interrupted rotation).
        self.hint = hint

    @classmethod
    def from_text(cls, text: str, *, source: str) -> KeyCipher:
        return cls(parse_master_key(text, source), source=source)

    def __repr__(self) -> str:
        return f"KeyCipher(source={self.source!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("A KeyCipher cannot be pickled")

    def encrypt(self, binding: KeyBinding, api_key: ApiKey) -> bytes:
        """The key's ciphertext, bound to ``binding``."""
        return self.encrypt_bytes(binding.associated_data(), api_key.reveal().encode("utf-8"))

    def decrypt(self, binding: KeyBinding, blob: bytes) -> ApiKey:
        """The key stored for ``binding``; :class:`RegistryError` if this key cannot open it."""
        return _api_key(binding.agent_id, self.decrypt_bytes(binding.associated_data(), blob))

    def decrypt_v1(self, agent_id: str, blob: bytes) -> ApiKey:
        """A key stored by a schema 1 registry (bound to the agent id only): for migration."""
        associated = agent_id.encode("utf-8")
        return _api_key(agent_id, self.decrypt_bytes(associated, blob, version=_VERSION_1))

    def encrypt_bytes(self, associated: bytes, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated)

    def decrypt_bytes(self, associated: bytes, blob: bytes, *, version: bytes = _VERSION) -> bytes:
        if blob[:1] != version or len(blob) < 1 + _NONCE_BYTES + 16:
            raise self.wrong_key_error("a stored key has an unknown format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, associated)
        except InvalidTag:
            raise self.wrong_key_error() from None

    def wrong_key_error(self, detail: str = "") -> KeyMismatch:
        what = f" ({detail})" if detail else ""
        message = (
            f"The agent registry's keys do not decrypt with the master key from "
            f"{self.source}{what}. "
            f"Set {SECRET_KEY_VAR} to the key the registry was written with, or restore its key "
            f"file; nothing stored was changed."
        )
        return KeyMismatch(message + (f" {self.hint}" if self.hint else ""))


def make_key_check(cipher: KeyCipher) -> bytes:
    """The key check value a new registry stores (and a rotation rewrites)."""
    return cipher.encrypt_bytes(_KEY_CHECK_AAD, _KEY_CHECK_PLAINTEXT)


def check_key(cipher: KeyCipher, key_check: bytes, *, schema_1: bool = False) -> None:
    """Raise :class:`KeyMismatch` unless ``cipher`` opens the registry's ``key_check``."""
    version = _VERSION_1 if schema_1 else _VERSION
    cipher.decrypt_bytes(_KEY_CHECK_AAD, key_check, version=version)


def _api_key(agent_id: str, plaintext: bytes) -> ApiKey:
    try:
        return ApiKey(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, SecurityViolation):
        # Stored before keys were checked for what a header can carry.
        raise RegistryError(
            f"The stored API key of agent {agent_id} cannot be sent in a header; register "
            f"the agent again with replace=true and a valid key"
        ) from None


def key_directory(registry: Path, state_dir: Path | None) -> Path:
    """The directory of the master key file of the registry file ``registry``.

    The state directory when there is one (``jamey run`` has one); beside the registry for an
    embedded runtime that has none. A key file that exists wins: when the state directory has
    none but the registry's directory has one, that one is the registry's key, so a registry made
    by an embedded runtime keeps its key under ``jamey run`` and ``jamey agents-rotate-key``.
    Reads the file system.
    """
    beside = registry.parent
    if state_dir is None:
        return beside
    if not (state_dir / KEY_FILE_NAME).exists() and (beside / KEY_FILE_NAME).exists():
        return beside
    return state_dir


def pending_key_file(key_file: Path) -> Path:
    """Where a rotation writes the new key before it replaces ``key_file``."""
    return key_file.with_name(key_file.name + ".new")


def load_master_key(
    directory: Path | None, environ: Mapping[str, str] | None = None, *, create: bool = True
) -> tuple[KeyCipher, Path | None]:
    """The cipher of this runtime's master key, and the key file if this call created it.

    ``JAMEY_SECRET_KEY`` wins; else ``<directory>/secret.key`` is read, or created (mode 0600,
    atomically, so two processes starting at once agree on one key) when ``create`` is true.
    The caller audits a created key file once. Pass ``create=False`` when a registry already
    exists: a new key could not read it, so a clear error is better than a fresh key file.
    """
    env = os.environ if environ is None else environ
    text = env.get(SECRET_KEY_VAR, "")
    if text.strip():
        return KeyCipher.from_text(text, source=SECRET_KEY_VAR), None
    if directory is None:
        raise RegistryError(
            f"No master key for the agent registry: set {SECRET_KEY_VAR} "
            f"(make one with: {MAKE_KEY_HINT})"
        )
    path = directory / KEY_FILE_NAME
    created: Path | None = None
    if not path.exists():
        if not create:
            raise RegistryError(
                f"No master key for the existing agent registry: set {SECRET_KEY_VAR}, or restore "
                f"the key file {path} it was written with"
            )
        if write_key_file(path, generate_master_key(), exclusive=True):
            created = path
    cipher = KeyCipher(_read_key_file(path), source=f"the key file {path}")
    pending = pending_key_file(path)
    if pending.exists():
        cipher.hint = (
            f"A key rotation was interrupted: if {pending} holds the key the registry now uses, "
            f"move it over {path}."
        )
    return cipher, created


def _read_key_file(path: Path) -> bytes:
    source = f"the key file {path}"
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(
            f"Cannot read {source} ({exc.__class__.__name__}); set {SECRET_KEY_VAR} instead, "
            f"or fix the file"
        ) from None
    if sys.platform != "win32" and info.st_mode & 0o077:
        raise RegistryError(
            f"{source} is readable by other users (mode {info.st_mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )
    return parse_master_key(text, source)


def write_key_file(path: Path, text: str, *, exclusive: bool) -> bool:
    """Write a key file, mode 0600, complete before its name appears; never a partial file.

    With ``exclusive``, an existing file is kept and ``False`` returned (another process won
    the race to create it); else the file is replaced atomically. The directory is created 0700.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(temporary, path)  # atomic, and fails if the name exists
            except FileExistsError:
                return False
        else:
            os.replace(temporary, path)
        _fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
