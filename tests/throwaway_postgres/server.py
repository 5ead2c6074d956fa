"""A throwaway PostgreSQL server: data directory, socket and log in one temporary directory.

The postmaster is started directly as a child of this process (no ``pg_ctl``), so ``stop`` waits on
the process itself rather than polling a pid that may linger as a zombie, and on Linux the kernel
sends it SIGINT (a fast, clean shutdown) if this process dies without stopping it. PostgreSQL
refuses to run as root: as root, the server runs as the ``postgres`` account (or ``nobody``).

The server listens on 127.0.0.1 only, on a free port that stays the same across ``stop`` and
``start``, so a URL handed to another process stays valid when the server comes back.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, final

from .binaries import INSTALL_HINT, find_bindir

HOST = "127.0.0.1"
SUPERUSER = "postgres"

# Durability buys nothing in a server that lives for one test session. synchronous_commit stays on:
# with fsync off it costs one write() per commit, and it means that ``kill`` loses no committed row.
SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}

DIRECTORY_PREFIX = "jamey-postgres-"
OWNER_FILE = "owner.pid"  # the pid of the process that made the directory

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.01


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server programs were found on this machine."""


class PostgresFailed(RuntimeError):
    """initdb, the server or psql failed; the message carries the end of its output."""


@final
class PostgresServer:
    """One PostgreSQL server in ``directory``; use ``PostgresServer.temporary()`` to get one.

    ``url`` is the maintenance database's URL; ``database()`` makes a fresh database for a test.
    ``stop`` shuts down cleanly (SIGINT: clients get "terminating connection due to administrator
    command"); ``kill`` crashes it (SIGKILL to the postmaster and every backend, so clients see the
    socket close with no message); ``start`` brings it back on the same port with the same data.
    Start it from a thread that outlives it (the main thread): on Linux the server is tied to the
    life of the thread that started it.
    """

    def __init__(self, directory: Path, bindir: Path) -> None:
        self.directory = directory
        self.bindir = bindir
        self.data = directory / "data"
        self.log = directory / "server.log"
        self.port = 0
        self._account = _server_account()
        self._process: subprocess.Popen[bytes] | None = None
        self._database_numbers = itertools.count(1)

    @classmethod
    @contextlib.contextmanager
    def temporary(cls, bindir: Path | None = None) -> Iterator[PostgresServer]:
        """A started server in a new temporary directory, stopped and removed on exit."""
        if bindir is None:
            bindir = find_bindir()
        if bindir is None:
            raise PostgresNotInstalled(INSTALL_HINT)
        _remove_abandoned(Path(tempfile.gettempdir()))
        directory = Path(tempfile.mkdtemp(prefix=DIRECTORY_PREFIX))
        try:
            (directory / OWNER_FILE).write_text(str(os.getpid()))
            server = cls(directory, bindir)
            try:
                server.initdb()
                server.start()
                yield server
            finally:
                server.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def initdb(self) -> None:
        if self._account is not None:
            os.chown(self.directory, *self._account)
        _run(
            [
                str(self.bindir / "initdb"),
                *("-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"),
                *("--locale=C", "--no-sync", "--no-instructions"),
            ],
            what="initdb",
            **self._as_account(),
        )

    def start(self) -> None:
        """Start the server (no-op while it runs); the first start picks a free port."""
        if self.running:
            return
        if self.port:
            self._launch(self.port)
            return
        # Another process may take the free port before the server binds it: try another one.
        for attempt in range(3):
            try:
                self._launch(_free_port())
            except PostgresFailed as error:
                if "Address already in use" not in str(error) or attempt == 2:
                    raise
            else:
                return

    def stop(self) -> None:
        """Shut down cleanly and wait until every server process is gone (no-op when stopped)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # fast shutdown: roll back, disconnect, checkpoint
        try:
            # The postmaster exits only after its backends, so waiting on it waits on them all.
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._crash(process)
            raise PostgresFailed(
                f"the server did not stop within {STOP_TIMEOUT} s and was killed" + self._log_tail()
            ) from None
        if (self.data / "postmaster.pid").exists():
            raise PostgresFailed("the server stopped but left postmaster.pid" + self._log_tail())

    def kill(self) -> None:
        """Crash the server: SIGKILL to the postmaster and every backend (no-op when stopped)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._crash(process)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database's URL, dropped on exit even if clients are still connected.

        The server is started first if a test left it stopped.
        """
        self.start()
        name = f"jamey_test_{next(self._database_numbers)}"
        self.psql(f'CREATE DATABASE "{name}"')
        try:
            yield self.url_for(name)
        finally:
            self.start()
            self.psql(f'DROP DATABASE "{name}" WITH (FORCE)')

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql and return its unaligned, tuples-only output."""
        # The developer's PG* variables (PGSSLMODE, PGOPTIONS, ...) must not reach this server.
        env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        return _run(
            [
                str(self.bindir / "psql"),
                *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"),
                *("-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", database),
                *("-c", sql),
            ],
            what="psql",
            env=env,
        )

    def _launch(self, port: int) -> None:
        settings = [f"--{name}={value}" for name, value in SETTINGS.items()]
        with self.log.open("ab") as log:
            log_start = log.tell()
            process = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    *("-D", str(self.data), "-p", str(port), "-k", str(self.directory)),
                    *settings,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C in the terminal reaches the tests, which then stop it.
                start_new_session=True,
                preexec_fn=_stop_when_parent_dies,
                **self._as_account(),
            )
        try:
            self._wait_until_ready(process, log_start)
        except BaseException:
            self._crash(process)
            raise
        self._process = process
        self.port = port

    def _wait_until_ready(self, process: subprocess.Popen[bytes], log_start: int) -> None:
        """Wait for the ``ready`` status line that the postmaster writes into postmaster.pid."""
        pid_file = self.data / "postmaster.pid"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise PostgresFailed(
                    f"the server exited with {process.returncode}" + self._log_tail(log_start)
                )
            with contextlib.suppress(FileNotFoundError):
                lines = pid_file.read_text().splitlines()
                # A crashed server leaves a stale file behind: only our pid's status counts.
                if len(lines) >= 8 and lines[0] == str(process.pid) and lines[7].strip() == "ready":
                    return
            time.sleep(POLL_INTERVAL)
        raise PostgresFailed(
            f"the server was not ready within {START_TIMEOUT} s" + self._log_tail(log_start)
        )

    def _crash(self, process: subprocess.Popen[bytes]) -> None:
        # Each backend is a session leader of its own, so it is found by parent pid, not group.
        victims = [process.pid, *_children_of(process.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)

    def _as_account(self) -> dict[str, Any]:
        if self._account is None:
            return {}
        uid, gid = self._account
        return {"user": uid, "group": gid, "extra_groups": []}

    def _log_tail(self, start: int = 0, lines: int = 15) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(start)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "; the server log ends with:\n" + "\n".join(text.splitlines()[-lines:])


def _server_account() -> tuple[int, int] | None:
    """The (uid, gid) to run the server as when this process is root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise PostgresFailed("running as root, and no 'postgres' or 'nobody' account to run as")


def _remove_abandoned(parent: Path) -> None:
    """Remove the directories of earlier runs killed before they could clean up.

    Only where the owning process is gone and no server holds the data directory: a killed
    owner's server shut itself down (see ``_stop_when_parent_dies``), removing postmaster.pid.
    """
    for directory in parent.glob(DIRECTORY_PREFIX + "*"):
        try:
            owner = int((directory / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # being set up right now, or not ours
        if (directory / "data" / "postmaster.pid").exists():
            continue
        try:
            os.kill(owner, 0)  # a dead owner not yet reaped still counts as alive: kept
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except PermissionError:
            pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _run(command: list[str], *, what: str, **options: Any) -> str:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, **options
        )
    except subprocess.TimeoutExpired as error:
        raise PostgresFailed(f"{what} did not finish within {error.timeout} s") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise PostgresFailed(f"{what} failed with exit code {result.returncode}: {output}")
    stdout: str = result.stdout
    return stdout


def _children_of(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (Linux /proc; empty elsewhere)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name in parentheses may hold spaces: the ppid follows its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                children.append(int(stat.parent.name))
    return children


def _parent_death_signal() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def arm() -> None:
        # Runs in the child after it switched user (a change of user would clear the setting).
        prctl(pr_set_pdeathsig, signal.SIGINT)

    return arm


_stop_when_parent_dies = _parent_death_signal()
