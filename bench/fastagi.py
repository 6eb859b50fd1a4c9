"""Benchmark 1 (FastAGI) and 5 (gateway memory): the real ``incoming`` route with real PostgreSQL,
driven by an AGI client in a separate process, against the same decision made by a classic
per-process pyst2 AGI script. The gateway's memory is read at rest and while 200 sessions are in
flight."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, cpu_s, free_port, postgres_cpu, postmaster, rss_kib, summary_ms
from tests.agi_client import agi_env

PY = sys.executable
CLASSIC_LIMIT_S = 120.0  # one classic session, however loaded the machine


class AgiServer:
    def __init__(
        self, url: str, variant: str = "shipped", env: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.variant = variant
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.state = Path(tempfile.mkdtemp(prefix="siaga-bench-gw-"))
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> AgiServer:
        self.proc = subprocess.Popen(
            [PY, "-m", "bench.agi_server", self.url, str(self.port), str(self.state), self.variant],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"gateway did not start; see {self.state}/gateway.log")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not os.environ.get("SIAGA_BENCH_KEEP"):
            shutil.rmtree(self.state, ignore_errors=True)


def load(
    port: int, concurrency: int, sessions: int, prefix: int, rate: float = 0.0
) -> dict[str, Any]:
    """Run ``bench.agi_load``: closed loop, or open loop at ``rate`` sessions/s (``concurrency``
    then caps the sessions open at once)."""
    out = subprocess.run(
        [
            PY,
            "-m",
            "bench.agi_load",
            "127.0.0.1",
            str(port),
            str(concurrency),
            str(sessions),
            str(prefix),
            str(rate),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    raw = json.loads(out.stdout)
    lat = raw.pop("latencies")
    raw.update(summary_ms(lat))
    raw["sessions_per_s"] = round(raw["sessions"] / raw["elapsed_s"], 1) if raw["elapsed_s"] else 0
    if raw.get("offered_per_s") is None:
        raw.pop("offered_per_s", None)
    raw["elapsed_s"] = round(raw["elapsed_s"], 2)
    return raw


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, rss_kib(self.pid)[0])


async def _classic_session(url: str, uniqueid: str) -> tuple[float, bool]:
    env = agi_env(
        uniqueid,
        callerid=f"0813{int(uniqueid.split('.')[1]) % 10**8:08d}",
        script="classic_agi.py",
        recording=f"2026/11/23/{uniqueid}.wav",
    )
    env.pop("agi_network")
    env["agi_request"] = str(ROOT / "bench" / "classic_agi.py")
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        PY,
        str(ROOT / "bench" / "classic_agi.py"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "SIAGA_DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdin is not None and proc.stdout is not None
    ticket = False
    try:
        async with asyncio.timeout(CLASSIC_LIMIT_S):
            proc.stdin.write(("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n").encode())
            await proc.stdin.drain()
            for _ in range(20):  # bounded: the script sends at most a few commands
                line = await proc.stdout.readline()
                if not line:
                    break
                if line.startswith(b"SET VARIABLE") and b"SIAGA_TICKET" in line:
                    ticket = True
                proc.stdin.write(b"200 result=1\n")
                await proc.stdin.drain()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return time.perf_counter() - t0, ticket


async def classic(url: str, concurrency: int, sessions: int, prefix: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    results: list[tuple[float, bool]] = []
    errors: list[str] = []

    async def one(i: int) -> None:
        async with sem:
            try:
                results.append(await _classic_session(url, f"{prefix}.{i}"))
            except (TimeoutError, OSError, ConnectionError) as exc:
                errors.append(type(exc).__name__)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(sessions)))
    elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "sessions": len(results),
        "errors": len(errors),
        "tickets": sum(1 for _, t in results if t),
        "elapsed_s": round(elapsed, 2),
        "sessions_per_s": round(len(results) / elapsed, 1),
        **summary_ms([r[0] for r in results]),
    }


# Open loop: sessions offered at a steady rate with at most OPEN_MAX open at once; the target
# (1,000 sessions/s, p99 < 20 ms at 200 concurrent) is read from the first rate, and the next
# rate is tried only when the first was not reached.
OPEN_MAX = 200
TARGET_RATE = 1000.0


def measured(
    server: AgiServer, pg: int, prefix: int, concurrency: int, sessions: int, rate: float = 0.0
) -> dict[str, Any]:
    """One level, with the gateway's peak memory and each party's CPU per session."""
    assert server.proc is not None
    pid = server.proc.pid
    load_before = round(os.getloadavg()[0], 2)
    sampler = RssSampler(pid)
    sampler.start()
    g0, p0 = cpu_s(pid), postgres_cpu(pg)
    level = load(server.port, concurrency, sessions, prefix, rate)
    g1, p1 = cpu_s(pid), postgres_cpu(pg)
    sampler.stop.set()
    sampler.join()
    level["gateway_peak_rss_kib"] = sampler.peak
    n = max(level["sessions"], 1)
    cpu = {"gateway": g1 - g0, "postgres": p1 - p0, "client": level.pop("cpu_s")}
    level["cpu_ms_per_session"] = {k: round(1000 * v / n, 2) for k, v in cpu.items()}
    total_ms = 1000 * sum(cpu.values()) / n
    # what the cores could do if all their time went to these three processes
    level["projected_per_s"] = (
        round((os.cpu_count() or 1) * 1000 / total_ms, 0) if total_ms > 0 else None
    )
    level["load_before"] = load_before
    return level


def run(url: str, quick: bool) -> dict[str, Any]:
    plan = [(1, 20), (50, 100), (200, 400)] if quick else [(1, 1000), (50, 6000), (200, 10000)]
    rates = [100.0] if quick else [TARGET_RATE, 500.0]
    seconds = 0.5 if quick else 10.0
    prefix = int(time.time())
    out: dict[str, Any] = {"levels": [], "open_loop": [], "note": ""}
    with AgiServer(url) as server:
        assert server.proc is not None
        pid = server.proc.pid
        time.sleep(0.5)
        out["rss_start_kib"] = rss_kib(pid)[0]
        load(server.port, 10, 20 if quick else 500, prefix)  # warm-up: pool, statement cache
        out["rss_rest_kib"] = rss_kib(pid)[0]
        pg = postmaster(url)
        for concurrency, sessions in plan:
            prefix += 1
            out["levels"].append(
                measured(server, pg, prefix * 1000 + concurrency, concurrency, sessions)
            )
        for rate in rates:
            prefix += 1
            level = measured(server, pg, prefix * 1000 + 999, OPEN_MAX, int(rate * seconds), rate)
            level["achieved_per_s"] = level["sessions_per_s"]
            out["open_loop"].append(level)
            if open_loop_met(level):
                break
        out["rss_after_kib"] = rss_kib(pid)[0]
        out["rss_hwm_kib"] = rss_kib(pid)[1]
    c_plan = [(1, 5), (4, 8)] if quick else [(1, 15), (8, 32)]
    out["classic"] = [asyncio.run(classic(url, c, n, prefix * 1000 + 990 + c)) for c, n in c_plan]
    best_classic = max(c["sessions_per_s"] for c in out["classic"])
    best_fast = max(lv["sessions_per_s"] for lv in out["levels"])
    out["ratio_throughput"] = round(best_fast / best_classic, 1) if best_classic else None
    c1 = out["classic"][0]["p50_ms"]
    f1 = out["levels"][0]["p50_ms"]
    out["ratio_latency_c1"] = round(c1 / f1, 1) if f1 else None
    return out


def open_loop_met(level: dict[str, Any], p99_ms: float = 20.0) -> bool:
    """The offered rate was carried (within 1 %), every session ticketed, p99 under the bound."""
    offered = level.get("offered_per_s") or 0
    return (
        level["sessions_per_s"] >= 0.99 * offered
        and level["p99_ms"] < p99_ms
        and level["errors"] == 0
        and level["tickets"] == level["sessions"]
    )
