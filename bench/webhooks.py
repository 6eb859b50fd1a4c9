"""Benchmark 3: webhook deliveries from the real delivery process (``python -m gateway.delivery``,
as the run command starts it; ``SIAGA_BENCH_WEBHOOKS_IN=gateway``: the gateway's own delivery
workers, as ``gateway.main`` starts them) to a loopback receiver in another process.

- Throughput: a backlog of N messages is committed at once; deliveries/s until the last arrives.
- Dispatch to receipt: messages committed one per transaction at a steady rate (as dispatches
  happen); the time from the commit (``outbox.created_at``) to the receiver's arrival time.
- CPU per delivery during the backlog: the delivering process, the receiver and PostgreSQL (all
  backends, the benchmark's own polling included), from ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.common import ROOT, cpu_s, free_port, postgres_cpu, postmaster, summary_ms
from bench.fastagi import PY, AgiServer
from services.dispatch.delivery import OUTBOX_CHANNEL
from services.dispatch.signing import new_secret

PAYLOAD = (
    "jsonb_build_object('type','dispatch.created','timestamp',now(),'data',"
    "jsonb_build_object('ticket',jsonb_build_object('number','T' || lpad(g::text, 6, '0'),"
    "'category','kebakaran','priority',3,'location_text','Jl. Merdeka No. ' || g,"
    "'description',repeat('Api membesar di gudang, dua orang terjebak. ', 12)),"
    "'dispatch',jsonb_build_object('agency','DAMKAR','note','segera')))"
)
INSERT = (
    "INSERT INTO outbox (message_id, agency_id, event_type, payload, state, attempts, "  # noqa: S608
    "next_attempt_at, created_at) "
    f"SELECT :prefix || g, :agency, 'dispatch.created', {PAYLOAD}, 'pending', 0, "
    "clock_timestamp(), clock_timestamp() FROM generate_series(1, :n) g"
)  # PAYLOAD is a constant


async def _agency(engine: AsyncEngine, url: str) -> int:
    async with engine.begin() as conn:
        agency = (
            await conn.execute(
                text(
                    "INSERT INTO agencies (code, name, categories, webhook_url, active) "
                    "VALUES ('BENCH', 'Bench receiver', ARRAY['kebakaran'], :url, true) "
                    "ON CONFLICT (code) DO UPDATE SET webhook_url = EXCLUDED.webhook_url "
                    "RETURNING id"
                ),
                {"url": url},
            )
        ).scalar_one()
        await conn.execute(
            text(
                "INSERT INTO agency_secrets (agency_id, secret, created_at) VALUES (:a, :s, now())"
            ),
            {"a": agency, "s": new_secret()},
        )
    return int(agency)


async def _delivered(engine: AsyncEngine, prefix: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM outbox WHERE state = 'delivered' "
                        "AND message_id LIKE :p"
                    ),
                    {"p": prefix + "%"},
                )
            ).scalar_one()
        )


async def _wait_delivered(engine: AsyncEngine, prefix: str, n: int, limit_s: float) -> int:
    deadline = time.monotonic() + limit_s
    done = 0
    while time.monotonic() < deadline:
        done = await _delivered(engine, prefix)
        if done >= n:
            break
        await asyncio.sleep(0.05)
    return done


def _cpu(pids: dict[str, int], pg: int) -> dict[str, float]:
    return {**{name: cpu_s(pid) for name, pid in pids.items()}, "postgresql": postgres_cpu(pg)}


async def _measure(
    url: str, port: int, backlog: int, steady: int, rate: float, pids: dict[str, int]
) -> dict[str, Any]:
    pg = postmaster(url)
    engine = create_async_engine(url)
    try:
        agency = await _agency(engine, f"http://127.0.0.1:{port}/hooks/siaga112")
        # throughput: a backlog committed at once
        t0 = time.time()
        async with engine.begin() as conn:
            await conn.execute(text(INSERT), {"prefix": "bulk-", "agency": agency, "n": backlog})
        committed = time.time()
        cpu_before = _cpu(pids, pg)
        done = await _wait_delivered(engine, "bulk-", backlog, 120)
        recorded = time.time()
        cpu_after = _cpu(pids, pg)
        # dispatch to receipt: one message per transaction at a steady rate
        for i in range(steady):
            async with engine.begin() as conn:
                await conn.execute(text(INSERT), {"prefix": f"one-{i}-", "agency": agency, "n": 1})
            await asyncio.sleep(1 / rate)
        steady_done = await _wait_delivered(engine, "one-", steady, 60)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT message_id, extract(epoch FROM created_at) FROM outbox "
                        "WHERE message_id LIKE 'one-%' OR message_id LIKE 'bulk-%'"
                    )
                )
            ).all()
        created = {r[0]: float(r[1]) for r in rows}
    finally:
        await engine.dispose()
    return {
        "t0": t0,
        "committed": committed,
        "recorded": recorded,
        "done": done,
        "steady_done": steady_done,
        "created": created,
        "cpu_ms": {
            k: round((cpu_after[k] - cpu_before[k]) * 1000 / max(done, 1), 3) for k in cpu_before
        },
    }


async def _listening(url: str, limit_s: float) -> None:
    """Wait until a delivery worker LISTENs on the outbox channel (it claims right after)."""
    engine = create_async_engine(url)
    try:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                found = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' "
                            "AND query LIKE '%' || :channel || '%'"
                        ),
                        {"channel": OUTBOX_CHANNEL},
                    )
                ).scalar_one()
            if found:
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    raise RuntimeError("the delivery worker did not start")


@contextmanager
def _delivery(url: str, mode: str, env: dict[str, str]) -> Iterator[dict[str, int]]:
    """The delivery side as the run command starts it (``process``: ``python -m
    gateway.delivery``), or inside the gateway (``gateway``: its own delivery workers, as
    ``gateway.main`` starts them); yields the pids whose CPU counts."""
    if mode == "gateway":
        with AgiServer(url, env=env) as gateway:
            assert gateway.proc is not None
            asyncio.run(_listening(url, 30))
            yield {"gateway": gateway.proc.pid}
        return
    log = tempfile.NamedTemporaryFile(prefix="siaga-bench-delivery-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [PY, "-m", "gateway.delivery"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env, "SIAGA_DATABASE_URL": url},
    )
    try:
        asyncio.run(_listening(url, 30))
        yield {"delivery": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


def run(url: str, quick: bool, mode: str = "process") -> dict[str, Any]:
    backlog, steady, rate = (200, 20, 50.0) if quick else (5000, 300, 50.0)
    mode = os.environ.get("SIAGA_BENCH_WEBHOOKS_IN", mode)
    port = free_port()
    out_file = Path(tempfile.mkdtemp(prefix="siaga-bench-hooks-")) / "received.json"
    receiver = subprocess.Popen(
        [PY, "-m", "bench.receiver", str(port), str(out_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "READY":
            raise RuntimeError("receiver did not start")
        env = {"SIAGA_WEBHOOKS__ALLOWLIST": '["127.0.0.1"]'}
        with _delivery(url, mode, env) as pids:
            pids["receiver"] = receiver.pid
            m = asyncio.run(_measure(url, port, backlog, steady, rate, pids))
    finally:
        receiver.terminate()
        receiver.wait(20)
    received: dict[str, float] = json.loads(out_file.read_text())
    shutil.rmtree(out_file.parent, ignore_errors=True)
    bulk = [t for k, t in received.items() if k.startswith("bulk-")]
    last = max(bulk) if bulk else m["committed"]
    lat = [received[k] - m["created"][k] for k in received if k.startswith("one-")]
    bulk_lat = [received[k] - m["created"][k] for k in received if k.startswith("bulk-")]
    return {
        "delivery_in": mode,
        "backlog": backlog,
        "backlog_received": len(bulk),
        "backlog_recorded_delivered": m["done"],
        "deliveries_per_s": round(len(bulk) / (last - m["committed"]), 1) if bulk else 0.0,
        "recorded_per_s": round(m["done"] / (m["recorded"] - m["committed"]), 1),
        "backlog_commit_to_receipt": summary_ms(bulk_lat),
        "cpu_ms_per_delivery": m["cpu_ms"],
        "steady_messages": steady,
        "steady_rate_per_s": rate,
        "steady_received": len(lat),
        "dispatch_to_receipt": summary_ms(lat),
    }
