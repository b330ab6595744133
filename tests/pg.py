"""Find or start a PostgreSQL for the test session.

Order: TUNIX_RT_TEST_POSTGRES_URL, a server on 127.0.0.1:5432, a temporary cluster started
from the installed binaries (initdb/pg_ctl). Under CI=true a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
CANDIDATE_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@dataclass
class PgServer:
    admin_url: str  # an existing database to connect to for CREATE/DROP DATABASE
    cluster_dir: Path | None = None
    pg_ctl: str | None = None

    def stop(self) -> None:
        if self.cluster_dir is not None and self.pg_ctl is not None:
            subprocess.run(
                [self.pg_ctl, "-D", str(self.cluster_dir / "data"), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
            shutil.rmtree(self.cluster_dir, ignore_errors=True)


def _can_connect(url: str) -> bool:
    import asyncio

    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=3)
        except Exception:
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for bin_dir in CANDIDATE_BIN_DIRS:
        if (bin_dir / name).exists():
            return str(bin_dir / name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_temporary_cluster() -> tuple[PgServer | None, str]:
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        return None, "no PostgreSQL binaries (initdb, pg_ctl) found on PATH or /usr/lib/postgresql"
    cluster = Path(tempfile.mkdtemp(prefix="tunix-rt-pg-"))
    data = cluster / "data"
    user_args: list[str] = []
    run_as: dict[str, object] = {}
    if os.geteuid() == 0:
        # initdb refuses to run as root; use the postgres system user when there is one.
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and no 'postgres' user to run initdb as"
        os.chown(cluster, pw.pw_uid, pw.pw_gid)
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid}
    port = _free_port()
    res = subprocess.run(
        [initdb, "-D", str(data), "-U", "postgres", "-A", "trust", *user_args],
        capture_output=True,
        text=True,
        check=False,
        **run_as,  # type: ignore[arg-type]
    )
    if res.returncode != 0:
        return None, f"initdb failed: {res.stderr.strip()[:300]}"
    res = subprocess.run(
        [
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-l",
            str(cluster / "log"),
            "-o",
            f"-p {port} -k {cluster} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        capture_output=True,
        text=True,
        check=False,
        **run_as,  # type: ignore[arg-type]
    )
    if res.returncode != 0:
        return None, f"pg_ctl start failed: {res.stderr.strip()[:300]}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    return PgServer(admin_url=url, cluster_dir=cluster, pg_ctl=pg_ctl), ""


def find_server() -> tuple[PgServer | None, str]:
    explicit = os.environ.get("TUNIX_RT_TEST_POSTGRES_URL")
    if explicit:
        if _can_connect(explicit):
            return PgServer(admin_url=explicit), ""
        return None, f"TUNIX_RT_TEST_POSTGRES_URL={explicit} does not accept connections"
    if _can_connect(DEFAULT_URL):
        return PgServer(admin_url=DEFAULT_URL), ""
    for _ in range(2):
        server, why = _start_temporary_cluster()
        if server is not None:
            return server, ""
        time.sleep(0.5)
    return None, f"no PostgreSQL on 127.0.0.1:5432 and {why}"


def create_database(admin_url: str) -> str:
    """Create a throwaway database; return its URL."""
    import asyncio

    import asyncpg

    name = f"tunix_rt_test_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def create() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    import asyncio

    import asyncpg

    name = url.rsplit("/", 1)[1]
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL of a test database as a plain asyncpg DSN."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def terminate_busy_backends(dsn: str, *, limit: int = 1) -> int:
    """Kill (pg_terminate_backend) up to `limit` backends of this DSN's database that are in
    the middle of a transaction (running a statement, or idle inside one), leaving idle
    pooled and LISTEN connections alone. Returns how many were killed."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        killed = await conn.fetchval(
            """
            SELECT count(*) FROM (
                SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND backend_type = 'client backend'
                  AND xact_start IS NOT NULL AND query NOT ILIKE 'LISTEN%'
                LIMIT $1
            ) AS k WHERE ok
            """,
            limit,
        )
    finally:
        await conn.close()
    return int(killed or 0)
