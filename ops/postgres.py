"""An embedded PostgreSQL server from Debian's packages, for a centre that gives no DATABASE_URL
and for the tests. It listens on loopback only and runs as the ``postgres`` system user."""

from __future__ import annotations

import glob
import logging
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(candidates[0]).parent


def _as_postgres(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    cmd = args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


class LocalPostgres:
    """A cluster in ``datadir`` listening on ``127.0.0.1:port`` with database and user ``siaga``."""

    def __init__(self, datadir: Path, port: int = 54320) -> None:
        self.datadir = Path(datadir)
        self.port = port
        self.password_file = self.datadir.parent / f"{self.datadir.name}.password"

    @property
    def url(self) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql+asyncpg://siaga:{password}@127.0.0.1:{self.port}/siaga"

    def initialise(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.datadir.chmod(0o700)
        pwfile = self.datadir.parent / f".{self.datadir.name}.initpw"
        pwfile.write_text(self.password_file.read_text().strip() + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            _as_postgres(
                [
                    str(_bindir() / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "siaga",
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",  # the socket lives in the 0700 data folder,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.datadir}'\n"
                "timezone = 'UTC'\nmax_connections = 200\nfsync = on\n"
            )

    def running(self) -> bool:
        cmd = [str(_bindir() / "pg_ctl"), "status", "-D", str(self.datadir)]
        if os.geteuid() == 0:  # pg_ctl refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, check=False)
        return result.returncode == 0

    def start(self) -> None:
        self.initialise()
        if self.running():
            return
        _as_postgres(
            [
                str(_bindir() / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.datadir / "server.log"),
                "start",
            ]
        )
        self._ensure_database()

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            _as_postgres(
                [str(_bindir() / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]
            )

    def _ensure_database(self) -> None:
        psql = [
            str(_bindir() / "psql"),
            "-h",
            str(self.datadir),
            "-p",
            str(self.port),
            "-U",
            "siaga",
            "-d",
            "postgres",
            "-tAc",
        ]
        for _ in range(50):
            try:
                exists = _as_postgres([*psql, "SELECT 1 FROM pg_database WHERE datname='siaga'"])
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        else:
            raise RuntimeError("PostgreSQL did not accept connections")
        if exists.stdout.strip() != "1":
            _as_postgres([*psql, "CREATE DATABASE siaga"])
