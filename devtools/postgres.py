"""A throwaway PostgreSQL cluster for tests and benches: `initdb` in a temp dir, `pg_ctl` on a free port.

The server is Debian's `postgresql` package (scripts/setup.sh installs it for the test set-up); its
programs live in /usr/lib/postgresql/<version>/bin, off PATH. PostgreSQL refuses to run as root, so as
root every server program runs as the `postgres` OS user (which the package creates) and the temp dir
belongs to it; otherwise as the current user. Host connections need the cluster's random password (in
the DSN), so other local users cannot wander into a test's data.

    with PostgresCluster() as pg:                # initdb + start: ~1-2 s on 2 cores
        async with pg.database() as dsn:         # CREATE DATABASE, dropped (WITH FORCE) on exit
            conn = await asyncpg.connect(dsn)
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import logging
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType

import asyncpg

log = logging.getLogger(__name__)

SERVER_USER = "postgres"  # the OS user Debian's package creates; the server runs as it when we are root
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_ATTEMPTS = 5  # a free port can be taken between choosing it and the server binding it

# Durability is pointless for a cluster deleted at the end of the run; speed is not.
TEST_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
}

_database_numbers = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server programs are missing, or the cluster could not be made or started."""


def find_bin_dir() -> Path:
    """Where initdb and pg_ctl are: $PG_BIN, else PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = [Path(p) for p in glob.glob(DEBIAN_BIN_GLOB) if (Path(p) / "initdb").exists()]
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL's initdb and pg_ctl were not found (PATH, $PG_BIN, /usr/lib/postgresql/*/bin): "
            "run `scripts/setup.sh requirements-dev.txt` (installs Debian's postgresql package)")
    return max(candidates, key=lambda p: _version_key(p.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresCluster:
    """One PostgreSQL server on 127.0.0.1 with its data, socket and log in one temp dir.

    `start()` / `stop()` (or `with`); `dsn(database)`; `database()` for a fresh database per test.
    """

    def __init__(self, *, user: str = "postgres", bin_dir: Path | None = None, parent_dir: Path | None = None,
                 settings: dict[str, str] | None = None) -> None:
        self.user = user  # the cluster's superuser role
        self.password = secrets.token_urlsafe(18)
        self.host = "127.0.0.1"
        self.port = 0
        self._bin_dir = bin_dir
        self._parent_dir = parent_dir
        self._settings = {**TEST_SETTINGS, **(settings or {})}
        self.root: Path | None = None  # the temp dir: data/, the unix socket, server.log

    # -- paths -------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "start() the cluster first"
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None, "start() the cluster first"
        return self.root

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "start() the cluster first"
        return self.root / "server.log"

    @property
    def running(self) -> bool:
        return self.root is not None and self.port != 0

    def dsn(self, database: str = "postgres") -> str:
        """postgresql://user:password@127.0.0.1:port/database, as DATABASE_URL takes it."""
        assert self.running, "start() the cluster first"
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> PostgresCluster:
        if self.running:
            return self
        bin_dir = self._bin_dir or find_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-", dir=self._parent_dir))
        try:
            self._give_to_server_user(self.root)
            self._initdb(bin_dir)
            self._start_server(bin_dir)
        except BaseException:
            self._remove()
            raise
        log.info("PostgreSQL test cluster on %s:%d in %s", self.host, self.port, self.root)
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut) and delete everything it wrote."""
        if self.root is None:
            return
        if self.port and (self.data_dir / "postmaster.pid").exists():
            bin_dir = self._bin_dir or find_bin_dir()
            for mode in ("fast", "immediate"):
                done = self._run([str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30",
                                  "stop"], check=False)
                if done.returncode == 0:
                    break
                log.warning("pg_ctl stop -m %s failed: %s", mode, done.stderr.strip() or done.stdout.strip())
        self._remove()

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------------------

    async def create_database(self, name: str | None = None) -> str:
        """CREATE DATABASE (a fresh, empty one; a unique name unless given); returns its DSN."""
        name = name or f"test_{next(_database_numbers)}_{secrets.token_hex(3)}"
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
        finally:
            await conn.close()
        return self.dsn(name)

    async def drop_database(self, name: str) -> None:
        """DROP DATABASE WITH (FORCE): connections a test leaked are cut rather than blocking the drop."""
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()

    @contextlib.asynccontextmanager
    async def database(self, name: str | None = None) -> AsyncIterator[str]:
        """A fresh database for one test or bench run, dropped afterwards; yields its DSN."""
        dsn = await self.create_database(name)
        try:
            yield dsn
        finally:
            await self.drop_database(dsn.rsplit("/", 1)[1])

    # -- internals ---------------------------------------------------------------------------------

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _server_account(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, but there is no {SERVER_USER!r} OS user to run PostgreSQL as (it refuses "
                "root): install Debian's postgresql package (scripts/setup.sh requirements-dev.txt), "
                "or run as another user") from None

    def _give_to_server_user(self, path: Path) -> None:
        if self._as_root():
            account = self._server_account()
            os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, args: Sequence[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a server program, as the postgres OS user when we are root."""
        command = list(args)
        if self._as_root():
            self._server_account()
            if shutil.which("runuser"):
                command = ["runuser", "-u", SERVER_USER, "--", *command]
            else:
                command = ["su", SERVER_USER, "-s", "/bin/sh", "-c", shlex.join(command)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
        if check and done.returncode != 0:
            raise PostgresUnavailable(f"{Path(args[0]).name} failed (exit {done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done

    def _initdb(self, bin_dir: Path) -> None:
        assert self.root is not None
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        self._give_to_server_user(password_file)
        try:
            self._run([str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                       f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
                       "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        finally:
            password_file.unlink(missing_ok=True)
        settings = dict(self._settings, unix_socket_directories=f"'{self.socket_dir}'")
        with (self.data_dir / "postgresql.conf").open("a") as conf:  # appending keeps the server user's ownership
            conf.write("\n# devtools.postgres: a throwaway test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_server(self, bin_dir: Path) -> None:
        assert self.root is not None
        for attempt in range(1, START_ATTEMPTS + 1):
            port = free_port(self.host)
            self.log_file.unlink(missing_ok=True)
            done = self._run([str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                              "-o", f"-p {port}", "-w", "-t", "60", "start"], check=False)
            if done.returncode == 0:
                self.port = port
                return
            server_log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            if "could not bind" in server_log or "already in use" in server_log:
                log.info("port %d was taken (attempt %d); trying another", port, attempt)
                continue
            raise PostgresUnavailable(f"pg_ctl start failed (exit {done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()}\n{server_log[-2000:]}")
        raise PostgresUnavailable(f"no free port found for PostgreSQL in {START_ATTEMPTS} attempts")

    def _remove(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        self.port = 0
