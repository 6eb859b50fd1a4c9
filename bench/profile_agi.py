"""Profile the gateway's FastAGI side under load: ``python -m bench.profile_agi [CONCURRENCY]
[SESSIONS] [shipped|tuned]``.

Starts PostgreSQL and the gateway, drives sessions from a separate process, records the gateway
with py-spy, and reports the CPU time each party spent per session (gateway, PostgreSQL's
processes, the AGI client): on 2 cores their sum bounds the sessions per second.
"""

from __future__ import annotations

import collections
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import cpu_s, postgres, postgres_cpu, postmaster
from bench.fastagi import PY, AgiServer, load


def top(raw: Path, n: int = 30) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        c = int(count)
        total += c
        for f in set(frames):
            inclusive[f] += c
        own[frames[-1]] += c
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"{100 * c / total:5.1f}% {f}" for f, c in inclusive.most_common(n)]
    lines += ["own:"] + [f"{100 * c / total:5.1f}% {f}" for f, c in own.most_common(n)]
    return "\n".join(lines)


def main() -> None:
    concurrency = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    variant = sys.argv[3] if len(sys.argv) > 3 else "shipped"
    out = Path(tempfile.mkdtemp(prefix="siaga-bench-prof-")) / "agi.raw"
    with postgres() as url, AgiServer(url, variant) as server:
        assert server.proc is not None
        pid = server.proc.pid
        pg_pid = postmaster(url)
        load(server.port, 10, 200, int(time.time()))
        spy = subprocess.Popen(
            [
                str(Path(PY).parent / "py-spy"),
                "record",
                "-p",
                str(pid),
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        g0, p0 = cpu_s(pid), postgres_cpu(pg_pid)
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = load(server.port, concurrency, sessions, int(time.time()) + 7)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        g1, p1 = cpu_s(pid), postgres_cpu(pg_pid)
        spy.send_signal(2)
        spy.wait(60)
        n = max(result["sessions"], 1)
        print({k: result[k] for k in ("sessions_per_s", "p50_ms", "p99_ms", "tickets", "sessions")})
        client = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
        print(
            f"CPU ms per session: gateway {1000 * (g1 - g0) / n:.2f}, "
            f"postgres {1000 * (p1 - p0) / n:.2f}, client {1000 * client / n:.2f}"
        )
    if out.exists():
        print(top(out))


if __name__ == "__main__":
    main()
