"""A private PostgreSQL cluster for the benchmark: initdb, start on loopback, databases, stop.

Uses Debian's `postgresql` package binaries (`make bench-deps` installs them). The cluster
lives under the bench work directory, listens on 127.0.0.1 at a free port (and a unix socket
in its data directory only), trusts local connections, and is stopped with `pg_ctl stop`,
which signals the postmaster whose pid it wrote. Running as root, initdb and pg_ctl run as
the `postgres` system user (PostgreSQL refuses to run as root).

Destinations are cloned from a template database migrated once to Prefect's head revision,
so a new destination starts in seconds, like the SQLite ones (fixtures/servers.py).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fixtures.servers import free_port, server_env

TEMPLATE = "pfx_bench_template"
USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here (or they cannot run); the message says how to get them."""


def find_bindir() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (newest major), or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


@dataclass
class Cluster:
    """A running cluster that this benchmark started and owns."""

    bindir: Path
    data: Path
    port: int
    version: str

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *, template: str | None = TEMPLATE) -> str:
        """A new database (cloned from the migrated template unless `template` is None)."""
        clause = f" TEMPLATE {template}" if template else ""
        self._sql(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def prepare_template(self, workdir: Path) -> None:
        """Create the template database and migrate it to Prefect's head revision."""
        self.create_database(TEMPLATE, template=None)
        home = workdir / "pg-template-home"
        home.mkdir(parents=True, exist_ok=True)
        code = (
            "import asyncio\n"
            "from prefect.server.database import provide_database_interface\n"
            "asyncio.run(provide_database_interface().create_db())\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=server_env(home, self.url(TEMPLATE)),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(
                "migrating the PostgreSQL template failed:\n"
                + done.stderr.decode(errors="replace")[-3000:]
            )

    def _sql(self, statement: str) -> None:
        asyncio.run(_execute(self.port, statement))

    def stop(self) -> None:
        _as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])


async def _execute(port: int, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user=USER, database="postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _as_owner(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    """Run a PostgreSQL tool as the cluster's owner: `postgres` when we are root."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", USER, "--", *argv]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed:\n{done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done  # type: ignore[no-any-return]


def start_cluster(root: Path) -> Cluster:
    """initdb a fresh cluster under `root` and start it on 127.0.0.1 at a free port."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL binaries not found: run `make bench-deps` "
            "(apt-get install -y postgresql) or pass --backends sqlite"
        )
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(USER)
        except KeyError:
            raise PostgresUnavailable(f"running as root but there is no {USER!r} user") from None
    root.mkdir(parents=True, exist_ok=True)
    data = root.resolve() / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(data, owner.pw_uid, owner.pw_gid)
    _as_owner(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
    )
    port = free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200"
    log = data / "server.log"
    _as_owner(
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
    )
    version = (data / "PG_VERSION").read_text().strip()
    return Cluster(bindir=bindir, data=data, port=port, version=version)
