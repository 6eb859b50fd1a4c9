"""Benchmark 4: the tickets API with 1,000,000 tickets in PostgreSQL.

The tickets are generated in SQL (``generate_series``; the table's secondary indexes are dropped
for the load and rebuilt from their own definitions, so the schema ends as migrated). Then:

- HTTP: the API (``uvicorn api.app:create_app``, its own process) is asked for the ticket list, its
next page and free-text searches (a rare word, a street a quarter of a percent of tickets name, two
words in a fifth of them), one request at a time from a client in this process; p50/p99, and the CPU
the API process and PostgreSQL spent per request (wall-clock figures move with whatever else shares
the cores; CPU per request does not). The routes are found in the app itself (``GET .../tickets``
and its free-text parameter); if the app serves no such route yet, that is reported and only the
database part below is measured. - Database: the queries a keyset-paginated list and a free-text
search need, on the same table. - Creation: tickets opened the way the gateway opens them on the
call path (arrivals written in batches by ``gateway.call_path.arrival_writer.ArrivalWriter``, one
autocommit statement per batch), 20 arrivals in flight at a time, at 1,000,000 rows; with the CPU
this process and PostgreSQL spent per ticket."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.common import ROOT, cpu_s, free_port, postgres_cpu, postmaster, summary_ms
from bench.fastagi import PY
from core.categories import CATEGORIES
from core.db import make_sessionmaker
from core.names import CallEventKind, Role, TicketState
from core.timeutil import utcnow
from models import User
from services.calls.facts import CallFact
from services.users.auth import Principal, issue_token
from services.users.service import create_user, principal_of

STATES = [s.value for s in TicketState]
CATS = [c.code for c in CATEGORIES]
KECAMATAN = [
    "Baturaja Timur",
    "Baturaja Barat",
    "Lengkiti",
    "Sosoh Buay Rayap",
    "Pengandonan",
    "Semidang Aji",
    "Ulu Ogan",
    "Muara Jaya",
    "Peninjauan",
    "Lubuk Batang",
]
WORDS = [
    "kebakaran rumah warga",
    "kecelakaan sepeda motor",
    "banjir setinggi lutut",
    "pohon tumbang menutup jalan",
    "orang pingsan di pasar",
    "pencurian sepeda motor",
    "tawuran pelajar",
    "ular masuk rumah",
    "longsor di tebing",
    "anak hilang",
]


def _arr(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


LOAD = f"""
INSERT INTO tickets (state, classification, category, priority, caller_number, caller_number_raw,
    reporter_name, location_text, kecamatan, description, created_at, updated_at)
SELECT ({_arr(STATES)})[1 + g % {len(STATES)}],
       CASE WHEN g % 5 = 0 THEN 'prank' ELSE 'emergency' END,
       ({_arr(CATS)})[1 + g % {len(CATS)}],
       1 + g % 9,
       '+62812' || lpad((g % 5000000)::text, 8, '0'),
       '0812' || lpad((g % 5000000)::text, 8, '0'),
       'Pelapor ' || (g % 997)::text || ' warga' || (g % 100003)::text,
       'Jalan ' || (g % 400)::text || ' RT ' || (g % 20)::text,
       ({_arr(KECAMATAN)})[1 + g % {len(KECAMATAN)}],
       ({_arr(WORDS)})[1 + g % {len(WORDS)}] || ', '
           || ({_arr(WORDS)})[1 + (g / 10) % {len(WORDS)}],
       now() - make_interval(mins => (:n - g)),
       now() - make_interval(mins => (:n - g))
FROM generate_series(1, :n) g
"""  # noqa: S608 - built from the fixed lists above only

_FTS = "search_document"  # models.ticket: the stored column the GIN index is on
DB_QUERIES = {
    "list newest 50 (keyset first page)": (
        "SELECT id, state, priority, caller_number, created_at FROM tickets "
        "ORDER BY id DESC LIMIT 50"
    ),
    "list next page (keyset, id < :mid)": (
        "SELECT id, state, priority, caller_number, created_at FROM tickets WHERE id < :mid "
        "ORDER BY id DESC LIMIT 50"
    ),
    "list state=new, newest 50": (
        "SELECT id FROM tickets WHERE state = 'new' ORDER BY id DESC LIMIT 50"
    ),
    "caller history (caller_number)": (
        "SELECT id FROM tickets WHERE caller_number = '+6281200012345' "
        "ORDER BY created_at DESC LIMIT 50"
    ),
    "search rare word (warga12345), newest 50": (
        f"SELECT id FROM tickets WHERE {_FTS} @@ "  # noqa: S608 - constants only
        "plainto_tsquery('simple', 'warga12345') ORDER BY id DESC LIMIT 50"
    ),
    "search street (jalan 123), newest 50": (
        f"SELECT id FROM tickets WHERE {_FTS} @@ "  # noqa: S608 - constants only
        "plainto_tsquery('simple', 'jalan 123') ORDER BY id DESC LIMIT 50"
    ),
    "search common words (pohon tumbang), newest 50": (
        f"SELECT id FROM tickets WHERE {_FTS} @@ "  # noqa: S608 - constants only
        "plainto_tsquery('simple', 'pohon tumbang') ORDER BY id DESC LIMIT 50"
    ),
}


async def load_tickets(engine: AsyncEngine, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        have = int((await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one())
        if have >= n:
            return {"rows": have, "load_s": 0.0}
        defs = (
            await conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets' "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
                )
            )
        ).all()
        for name, _ in defs:
            await conn.execute(text(f'DROP INDEX "{name}"'))
        await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        await conn.execute(text(LOAD), {"n": n - have})
        for _, definition in defs:
            await conn.execute(text(definition))
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("VACUUM ANALYZE tickets"))
    return {"rows": n, "load_s": round(time.perf_counter() - t0, 1), "indexes": len(defs)}


async def db_queries(engine: AsyncEngine, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with engine.connect() as conn:
        mid = int((await conn.execute(text("SELECT max(id) / 2 FROM tickets"))).scalar_one())
        for name, sql in DB_QUERIES.items():
            stmt = text(sql)
            for _ in range(3):
                await conn.execute(stmt, {"mid": mid})
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                (await conn.execute(stmt, {"mid": mid})).all()
                times.append(time.perf_counter() - t0)
            out[name] = summary_ms(times)
    return out


def _pg_pid(url: str) -> int | None:
    try:
        return postmaster(url)
    except (RuntimeError, OSError, ValueError):
        return None


def _cpu_per_op(before: float, after: float, ops: int) -> float:
    return round((after - before) * 1000 / max(ops, 1), 2)


def _arrival(i: int, base: int) -> CallFact:
    return CallFact(
        CallEventKind.ARRIVED.value,
        f"{base}.{i}",
        utcnow(),
        {
            "caller_number": f"+62813{i:08d}",
            "caller_number_raw": f"0813{i:08d}",
            "queue": "calltakers",
            "channel": f"PJSIP/carrier-{i:08d}",
        },
    )


async def create_tickets(
    engine: AsyncEngine, count: int, concurrency: int, pg_pid: int | None = None
) -> dict[str, Any]:
    """Arrivals as the gateway writes them on the call path
    (``gateway.call_path.arrival_writer.ArrivalWriter`` on
    its own asyncpg connections: the arrivals that queue while a batch is written go together as
    the next, one autocommit statement each batch)."""
    from gateway.call_path.arrival_writer import ArrivalWriter
    from gateway.call_path.pg import CallPathPool, asyncpg_dsn

    pool = CallPathPool(asyncpg_dsn(engine.url))  # the gateway's own size
    writer = ArrivalWriter(pool)
    base = int(time.time() * 1000)
    it = iter(range(count))
    times: list[float] = []

    async def worker() -> None:
        for i in it:
            fact = _arrival(i, base)
            t0 = time.perf_counter()
            await writer.submit(fact).done
            times.append(time.perf_counter() - t0)

    await pool.open(concurrency)
    me = os.getpid()
    cpu0, pg0 = cpu_s(me), postgres_cpu(pg_pid) if pg_pid else 0.0
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        elapsed = time.perf_counter() - t0
        cpu1, pg1 = cpu_s(me), postgres_cpu(pg_pid) if pg_pid else 0.0
        await pool.close()
    return {
        "tickets": len(times),
        "concurrency": concurrency,
        "tickets_per_s": round(len(times) / elapsed, 1),
        **summary_ms(times),
        "cpu_ms_per_ticket": {
            "client": _cpu_per_op(cpu0, cpu1, len(times)),
            "postgresql": _cpu_per_op(pg0, pg1, len(times)) if pg_pid else None,
        },
    }


def _routes(env: dict[str, str]) -> dict[str, Any]:
    """The app's ticket list route and its free-text parameter, if it has them."""
    old = dict(os.environ)
    os.environ.update(env)
    try:
        from api.app import create_app
        from core.settings import Settings

        app = create_app(Settings())
    finally:
        os.environ.clear()
        os.environ.update(old)
    found: dict[str, Any] = {}
    for path, operations in app.openapi().get("paths", {}).items():
        get = operations.get("get")
        if get is not None and path.rstrip("/").endswith("/tickets"):
            params = [p["name"] for p in get.get("parameters", []) if p.get("in") == "query"]
            found["list"] = path
            found["search_param"] = next(
                (p for p in ("q", "text", "search", "query") if p in params), None
            )
            found["params"] = params
            break
    return found


async def http_queries(
    port: int,
    token: str,
    routes: dict[str, Any],
    rounds: int,
    pids: tuple[int | None, int | None] = (None, None),
) -> dict[str, Any]:
    """p50/p99 per request kind; with ``pids`` (the API process, PostgreSQL's postmaster) also
    the CPU each spent per request."""
    out: dict[str, Any] = {}
    path = routes["list"]
    requests: dict[str, dict[str, str]] = {"list (first page)": {}}
    if "cursor" in routes["params"]:
        requests["list next page (cursor)"] = {"cursor": ""}  # filled from the first page
    if "state" in routes["params"]:
        requests["list state=new"] = {"state": "new"}
    if q := routes.get("search_param"):
        requests["search rare word"] = {q: "warga12345"}
        requests["search street (0.25 % of tickets)"] = {q: "jalan 123"}
        requests["search common words"] = {q: "pohon tumbang"}
    api_pid, pg_pid = pids
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
    ) as client:
        for name, params in requests.items():
            if params.get("cursor") == "":
                first = (await client.get(path, params={"limit": 50})).json()
                params = {"cursor": first.get("next_cursor") or ""}
            status = 0
            times = []
            api0 = cpu_s(api_pid) if api_pid else 0.0
            pg0 = postgres_cpu(pg_pid) if pg_pid else 0.0
            for i in range(rounds + 3):
                t0 = time.perf_counter()
                response = await client.get(path, params=params)
                if i >= 3:
                    times.append(time.perf_counter() - t0)
                status = response.status_code
            out[name] = {"status": status, **summary_ms(times)}
            if api_pid:
                out[name]["api_cpu_ms"] = _cpu_per_op(api0, cpu_s(api_pid), rounds + 3)
            if pg_pid:
                out[name]["pg_cpu_ms"] = _cpu_per_op(pg0, postgres_cpu(pg_pid), rounds + 3)
    return out


async def supervisor(url: str) -> Principal:
    """A supervisor account to ask the API as (the API refuses tokens naming no user)."""
    engine = create_async_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            user = await session.scalar(select(User).where(User.username == "bench-supervisor"))
            if user is None:
                user = await create_user(
                    session,
                    actor="bench",
                    username="bench-supervisor",
                    password=secrets.token_urlsafe(16),
                    role=Role.SUPERVISOR,
                )
            return principal_of(user)
    finally:
        await engine.dispose()


async def _database_part(url: str, n: int, rounds: int, creations: int) -> dict[str, Any]:
    engine = create_async_engine(url, pool_size=25)
    try:
        return {
            "load": await load_tickets(engine, n),
            "database": await db_queries(engine, rounds),
            "create": await create_tickets(engine, creations, 20, _pg_pid(url)),
        }
    finally:
        await engine.dispose()


def run(url: str, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 1_000_000
    rounds = 20 if quick else 200
    out: dict[str, Any] = asyncio.run(_database_part(url, n, rounds, 200 if quick else 3000))
    jwt = secrets.token_urlsafe(32)
    env = {
        "SIAGA_DATABASE_URL": url,
        "SIAGA_API__JWT_SECRET": jwt,
        "SIAGA_AMI__SECRET": secrets.token_urlsafe(24),
    }
    routes = _routes(env)
    out["routes"] = routes
    if "list" not in routes:
        out["http"] = None
        return out
    port = free_port()
    server = subprocess.Popen(
        [
            PY,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        token = issue_token(asyncio.run(supervisor(url)), jwt, 60)
        pids = (server.pid, _pg_pid(url))
        out["http"] = asyncio.run(http_queries(port, token, routes, rounds, pids))
    finally:
        server.terminate()
        server.wait(20)
    return out
