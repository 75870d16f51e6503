"""Throwaway PostgreSQL and Redis servers for the test session.

The suite starts its own servers on free ports in temporary folders, so it needs nothing
running beforehand. When MUSECHAT_TEST_REQUIRE_SERVICES=1 (set by `make test` and CI), a
missing server binary fails the tests instead of skipping them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE = os.environ.get("MUSECHAT_TEST_REQUIRE_SERVICES") == "1"


def unavailable(what: str) -> None:
    if REQUIRE:
        pytest.fail(f"{what} is required (MUSECHAT_TEST_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass
class PostgresServer:
    root: Path
    port: int
    _as_postgres: bool = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, args: list[str]) -> None:
        if self._as_postgres:
            args = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(args)]
        subprocess.run(args, check=True, capture_output=True, timeout=120)

    @classmethod
    def start(cls) -> PostgresServer:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and pg_ctl):
            unavailable("PostgreSQL (initdb/pg_ctl)")
        root = Path(tempfile.mkdtemp(prefix="musechat-pg-"))
        as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        server = cls(root, free_port(), as_postgres)
        data = root / "data"
        server._run([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync",
                     "-E", "UTF8", "--locale=C"])
        opts = (f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        server._run([pg_ctl, "-D", str(data), "-w", "-l", str(root / "log"), "-o", f"'{opts}'"
                     if as_postgres else opts, "start"])
        wait_port(server.port)
        return server

    def restart(self) -> None:
        data = self.root / "data"
        # -l: without a log file the server inherits pg_ctl's output and the call never returns.
        self._run([_pg_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(self.root / "log"), "-m", "fast", "restart"])
        wait_port(self.port)

    def stop(self) -> None:
        try:
            self._run([_pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-w", "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class RedisServer:
    port: int
    root: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls) -> RedisServer:
        if not shutil.which("redis-server"):
            unavailable("Redis (redis-server)")
        server = cls(free_port(), Path(tempfile.mkdtemp(prefix="musechat-redis-")))
        server._spawn()
        return server

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def restart(self) -> None:
        """Stop and start again on the same port (all keys are lost, as in a real crash)."""
        self.stop(cleanup=False)
        self._spawn()

    def stop(self, cleanup: bool = True) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if cleanup:
            shutil.rmtree(self.root, ignore_errors=True)
