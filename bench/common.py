"""What every benchmark shares: a PostgreSQL of its own, percentiles, the machine's description,
child processes and their memory."""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from models.migrate import upgrade
from ops.postgres import LocalPostgres, _bindir

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else 0.0,
    }


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster in a temporary folder, migrated; yields its URL."""
    base = Path(tempfile.mkdtemp(prefix="siaga-bench-pg-"))
    base.chmod(0o755)
    server = LocalPostgres(base / "data", port=free_port())
    server.start()
    try:
        upgrade(server.url)
        yield server.url
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu(postmaster_pid: int) -> float:
    """CPU seconds of a PostgreSQL server: the postmaster and its live children (backends)."""
    total = cpu_s(postmaster_pid)
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster_pid:
                total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, ValueError, IndexError):
            continue
    return total


def postmaster(url: str) -> int:
    """The postmaster's pid of the benchmark cluster serving ``url``."""
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    for pidfile in glob.glob("/tmp/siaga-bench-pg-*/data/postmaster.pid"):
        lines = Path(pidfile).read_text().splitlines()
        if len(lines) > 3 and lines[3].strip() == port:
            return int(lines[0])
    raise RuntimeError("postmaster not found")


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    pg = _first_line([str(_bindir() / "postgres"), "--version"])
    from core.settings import Settings

    root = Settings().asterisk.root
    ast = _first_line(["chroot", str(root), "/usr/sbin/asterisk", "-V"]) if root.exists() else "-"
    sipp = _first_line(["sipp", "-v"]) if shutil.which("sipp") else "-"
    sipp = re.sub(r"\s+", " ", sipp)
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "asterisk": ast,
        "sipp": sipp,
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
