"""Benchmark 2: calls end to end through a real Asterisk with SIPp, with the gateway in the path
and, in the same run, the same dialplan without the FastAGI step.

Three ways (``MODES``):

- ``gateway``: the centre as it runs: the FastAGI step answers each call (ticket number,
  priority), the gateway's AMI side writes the call's facts.
- ``no_fastagi``: the same centre and dialplan with the one ``AGI(...)`` line replaced by
  ``Set(AGISTATUS=SUCCESS)``: the gateway still runs and opens every call's ticket from the AMI
  events (as it does when a FastAGI step fails). The issue's baseline: what the Python step in
  the call path costs, with a ticket for every call both ways.
- ``asterisk_alone``: the same dialplan without the FastAGI step and the gateway stopped: no
  tickets, no facts; what the machine takes with no Siaga112 at all.

The gateway's reconciliation rounds (``SIAGA_ASTERISK__RECONCILE_SECONDS``) are off both ways it
runs: a call without a FastAGI step has no arrival fact, and the rounds would read every such call
back from the CDR (and ask Asterisk for its live channels) 20 s after it ended, charging the
baseline with repair work the centre never does when its FastAGI step answers. With them on, the
baseline fell to 70 calls/s against 75 with the step (run 13).

- The carrier is SIPp (``ops.sipp.carrier_scenario``): in the rate steps each caller presses 1 a
  second into the greeting (RFC 2833, cutting it short as a caller who speaks would) and waits for
  the centre to hang up. Every call has its own caller number.
- The call takers are SIPp uas processes (``ops.sipp.calltaker_scenario``), several PJSIP accounts
  per process (each account has its own static contact; Asterisk rings one account at a time per
  ``ringinuse = no``): they ring briefly, answer, talk a moment and hang up.
- Ceiling: rates are stepped up (``RATES``), ``gateway`` and ``no_fastagi`` taking turns at each
  rate (``GROUPS``; the way that went first at a rate goes second at the next), each step held
  for ``STEP_SECONDS``; a step is clean when
  SIPp reports every call successful, (with the gateway running) every call has its ticket
  (waiting up to 15 s for tickets of facts the gateway spooled under load), and the centre kept
  up: the last call ended within ``KEEP_UP_SECONDS`` of the time a call takes alone after the
  last one was placed (past its capacity a centre still answers every call of a short burst, each
  later than the one before; that is a backlog, not a rate it can take). A rate is clean for a way
  when its first step there is, or two of three are (``_verdict``): a step that fails is tried
  again, so one stray failure does not end a climb. After the first rate that fails, the rate
  ``REFINE_CPS`` above the last clean one is tried the same way, so the ceilings are known to
  5 calls/s. Before every step the centre drains (``E2E.drain``).
- There are enough call takers for every rate tried (``CALLTAKERS``), so the ceiling is the
  machine's, not the call takers'. Each step records the CPU each part used per call (the
  gateway, Asterisk, PostgreSQL, the whole machine with SIPp), from ``/proc``.
- INVITE to ringing: silent callers (the whole greeting, prompt and silence, a fixed time from
  Asterisk's side, so the difference between the ways is what the FastAGI step adds) at a low
  rate; SIPp's message traces (carrier and call takers, wall-clock stamps) give the time from the
  carrier's INVITE to the INVITE reaching a call taker's phone, matched by the caller's number.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import (
    ROOT,
    TICK,
    cpu_s,
    free_port,
    free_udp_port,
    postgres_cpu,
    postmaster,
    rss_kib,
    summary_ms,
)
from core.settings import (
    AmiSettings,
    ApiSettings,
    AsteriskSettings,
    CallTaker,
    FastAgiSettings,
    Settings,
)
from ops.asterisk import AsteriskInstance
from ops.centre import settings_env
from ops.sipp import KEY_1, calltaker_scenario, carrier_scenario

# Call-taker accounts: each call holds one for about 0.6 s (ring 50 ms, talk 500 ms), so 160
# leave over a third of them free at the highest rate tried.
CALLTAKERS, PER_UAS = 160, 10
RATES = (20.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0)
STEP_SECONDS = 15
# After the first rate that fails, the rate this far above the last clean one is tried too.
REFINE_CPS = 5.0
# A part of the centre is quiet when it uses less than this many CPU seconds a second.
QUIET_CPU = 0.1
# name -> (the gateway runs, the dialplan has its FastAGI step)
MODES: dict[str, tuple[bool, bool]] = {
    "gateway": (True, True),
    "no_fastagi": (True, False),
    "asterisk_alone": (False, False),
}
# The two ways the target compares take turns at each rate, so both meet the same state of the
# shared machine; Asterisk alone (a reference) climbs after them, with the gateway stopped.
GROUPS = (("gateway", "no_fastagi"), ("asterisk_alone",))
# A step keeps up when its last call ends within this long of the time one call takes alone
# (measured at the first step) after the last call was placed.
KEEP_UP_SECONDS = 3.0
AGI_LINE = re.compile(r"^ same => n,AGI\(agi://[^\n]*$", re.M)
TRACE_INVITE = re.compile(
    r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n\w+ message (sent|received)[^\n]*\n\n"
    r"(INVITE [^\n]*\n(?:[^\n]+\n)*)",
    re.M,
)


class BenchAsterisk(AsteriskInstance):
    def set_fastagi(self, enabled: bool) -> None:
        """The dialplan with or without its FastAGI step (everything else the same)."""
        self.prepare()
        if not enabled:
            conf = self.host_path() / "etc" / "extensions.conf"
            rendered = conf.read_text()
            bare, count = AGI_LINE.subn(" same => n,Set(AGISTATUS=SUCCESS)", rendered)
            if count != 1:
                raise RuntimeError("the dialplan's FastAGI step was not found")
            conf.write_text(bare)
        self.cli("dialplan reload")


class Gateway:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.env = {**os.environ, **settings_env(settings)}
        self.port = settings.fastagi.port
        self.log = log_dir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited; see {self.log}")
            ss = subprocess.run(
                ["ss", "-ltnH", f"sport = :{self.port}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if ss.stdout.strip():
                time.sleep(1.0)  # let the AMI side log in
                return
            time.sleep(0.1)
        raise RuntimeError("gateway did not listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores, not idle or waiting on I/O)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def _asterisk_cpu_s() -> float:
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "asterisk":
                total += cpu_s(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return total


def _parse_trace(path: Path, kind: str) -> dict[str, float]:
    """caller number (last 9 digits) -> first time an INVITE was ``kind`` (sent/received), from
    a SIPp message trace (each message follows a ``----- YYYY-MM-DD HH:MM:SS.ffffff`` line)."""
    out: dict[str, float] = {}
    if not path.exists():
        return out
    for m in TRACE_INVITE.finditer(path.read_text(errors="replace")):
        if m.group(2) != kind:
            continue
        frm = re.search(r"^From:.*?sip:\+?(\d+)@", m.group(3), re.M)
        if frm:
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            out.setdefault(frm.group(1)[-9:], t)
    return out


class E2E:
    def __init__(self, url: str, calltakers: int, per_uas: int) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="siaga-bench-e2e-"))
        self.uas_ports = [free_udp_port() for _ in range((calltakers + per_uas - 1) // per_uas)]
        cts = [
            CallTaker(
                account=f"ct{i + 1}",
                contact=f"sip:ct{i + 1}@127.0.0.1:{self.uas_ports[i // per_uas]}",
            )
            for i in range(calltakers)
        ]
        rtp = 20000 + (os.getpid() % 40) * 1000
        self.settings = Settings(
            database_url=url,
            state_dir=self.work / "state",
            ami=AmiSettings(port=free_port(), secret=SecretStr(secrets.token_urlsafe(24))),
            fastagi=FastAgiSettings(port=free_port()),
            api=ApiSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32)), port=free_port()),
            asterisk=AsteriskSettings(
                instance_dir=f"/tmp/siaga-bench-ast-{uuid.uuid4().hex[:8]}",
                sip_port=free_udp_port(),
                rtp_start=rtp,
                rtp_end=rtp + 999,
                calltakers=cts,
                # no reconciliation rounds (see the module's docstring)
                reconcile_seconds=0.0,
            ),
        )
        self.asterisk = BenchAsterisk(self.settings)
        self.gateway = Gateway(self.settings, self.work)
        self.uas: list[subprocess.Popen[bytes]] = []
        self.url = url
        self.next_port = 42000 + (os.getpid() % 100) * 50
        self.seq = 0
        self.postmaster = postmaster(url)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, trace: bool) -> None:
        self.asterisk.start()
        self.start_calltakers(trace)

    def start_calltakers(self, trace: bool) -> None:
        self.stop_calltakers()
        sf = self.work / "calltaker.xml"
        sf.write_text(calltaker_scenario(ring_ms=50, talk_ms=500))
        for port in self.uas_ports:
            self.next_port += 4
            cmd = [
                "sipp",
                "-sf",
                str(sf),
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-mi",
                "127.0.0.1",
                "-mp",
                str(self.next_port),
                "-nostdin",
            ]
            if trace:
                cmd += ["-trace_msg", "-message_file", str(self.work / f"uas-{port}.log")]
            self.uas.append(
                subprocess.Popen(
                    cmd,
                    cwd=self.work,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        time.sleep(0.5)

    def stop_calltakers(self) -> None:
        for proc in self.uas:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.uas.clear()

    def stop(self) -> None:
        self.stop_calltakers()
        self.gateway.stop()
        self.asterisk.stop()
        shutil.rmtree(self.asterisk.host_path(), ignore_errors=True)

    def mode(self, name: str) -> None:
        gateway, fastagi = MODES[name]
        if gateway:
            self.gateway.start()
        else:
            self.gateway.stop()
        self.asterisk.set_fastagi(fastagi)

    def drain(self, limit_s: float = 120.0) -> None:
        """Wait until Asterisk has no call left and the centre has gone quiet: Asterisk, the
        gateway and PostgreSQL (its autovacuum and checkpoints included) each under
        ``QUIET_CPU``. A failed step leaves a backlog of calls, and every step leaves work
        behind it, that would weigh on the next step, whichever way it runs."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            out = self.asterisk.cli("core show channels count")
            m = re.search(r"(\d+) active call", out)
            if m and int(m.group(1)) == 0:
                break
            time.sleep(1.0)
        while time.monotonic() < deadline:
            before = self.cpu()
            time.sleep(1.0)
            after = self.cpu()
            if all(after[k] - before[k] < QUIET_CPU for k in ("gateway", "asterisk", "postgres")):
                break
        time.sleep(2)

    # --- one step --------------------------------------------------------------------------
    def place(
        self, rate: float, calls: int, trace: bool = False, silent: bool = False
    ) -> dict[str, Any]:
        self.seq += 1
        numbers = [f"0815{self.seq:03d}{i:05d}" for i in range(calls)]
        sf = self.work / f"carrier-{self.seq}.xml"
        sf.write_text(carrier_scenario(None, None) if silent else _pressing_caller())
        inf = self.work / f"callers-{self.seq}.csv"
        inf.write_text("SEQUENTIAL\n" + "".join(f"{n};Warga {n}\n" for n in numbers))
        self.next_port += 4
        msg = self.work / f"carrier-{self.seq}.log"
        cmd = [
            "sipp",
            f"127.0.0.1:{self.settings.asterisk.sip_port}",
            "-sf",
            str(sf),
            "-inf",
            str(inf),
            "-s",
            "112",
            "-i",
            "127.0.0.2",
            "-p",
            str(self.next_port),
            "-mi",
            "127.0.0.2",
            "-mp",
            str(self.next_port + 2),
            "-m",
            str(calls),
            "-r",
            str(rate),
            "-rp",
            "1000",
            "-l",
            str(max(calls, 1)),
            "-recv_timeout",
            "30000",
            "-timeout",
            f"{int(calls / rate) + 60}s",
            "-timeout_error",
            "-nostdin",
        ]
        if trace:
            cmd += ["-trace_msg", "-message_file", str(msg)]
        before = self.cpu()
        t0 = time.time()
        proc = subprocess.run(
            cmd,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=int(calls / rate) + 120,
            check=False,
        )
        elapsed = time.time() - t0
        after = self.cpu()
        ok, failed = _sipp_counts(proc.stdout)
        return {
            "rate": rate,
            "calls": calls,
            "sipp_rc": proc.returncode,
            "successful": ok,
            "failed": failed,
            "elapsed_s": round(elapsed, 1),
            # from the last call placed to the last call ended
            "after_last_s": round(elapsed - (calls - 1) / rate, 1),
            "cpu_ms_per_call": {k: round(1000 * (after[k] - before[k]) / calls, 2) for k in after},
            "numbers": numbers,
            "trace": msg if trace else None,
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the gateway, Asterisk, PostgreSQL and the whole machine."""
        gateway = self.gateway.proc
        return {
            "gateway": cpu_s(gateway.pid) if gateway and gateway.poll() is None else 0.0,
            "asterisk": _asterisk_cpu_s(),
            "postgres": postgres_cpu(self.postmaster),
            "machine": _machine_busy_s(),
        }

    def tickets_settled(self, numbers: list[str], limit_s: float = 15.0) -> tuple[int, float]:
        """Tickets of these calls, waiting up to ``limit_s`` for any the gateway spooled under
        load to be replayed; returns (tickets, seconds waited after the calls ended)."""
        t0 = time.monotonic()
        count = self.tickets(numbers)
        while count < len(numbers) and time.monotonic() - t0 < limit_s:
            time.sleep(1.0)
            count = self.tickets(numbers)
        return count, round(time.monotonic() - t0, 1)

    async def _tickets(self, numbers: list[str]) -> int:
        engine = create_async_engine(self.url)
        try:
            async with engine.connect() as conn:
                return int(
                    (
                        await conn.execute(
                            text(
                                "SELECT count(DISTINCT ticket_id) FROM calls "
                                "WHERE caller_number_raw = ANY(:n) AND ticket_id IS NOT NULL"
                            ),
                            {"n": numbers},
                        )
                    ).scalar_one()
                )
        finally:
            await engine.dispose()

    def tickets(self, numbers: list[str]) -> int:
        return asyncio.run(self._tickets(numbers))

    def ringing_times(self, step: dict[str, Any]) -> list[float]:
        sent = _parse_trace(step["trace"], "sent")
        received: dict[str, float] = {}
        for port in self.uas_ports:
            for k, t in _parse_trace(self.work / f"uas-{port}.log", "received").items():
                received.setdefault(k, t)
        return [received[k] - t for k, t in sent.items() if k in received]


def _pressing_caller() -> str:
    """A caller who presses 1 a second into the greeting (not before it starts: a key pressed
    while the FastAGI step runs is not heard by the greeting's talk detection)."""
    scenario = carrier_scenario(KEY_1, None)
    play = scenario.index("  <nop><action><exec play_pcap_audio")
    return scenario[:play] + '  <pause milliseconds="1000"/>\n' + scenario[play:]


def _sipp_counts(stdout: str) -> tuple[int, int]:
    def grab(label: str) -> int:
        m = re.search(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", stdout)
        return int(m.group(1)) if m else -1

    return grab("Successful call"), grab("Failed call")


def run(url: str, quick: bool) -> dict[str, Any]:
    if shutil.which("sipp") is None:
        return {"skipped": "SIPp is not installed"}
    rates = (2.0,) if quick else RATES
    seconds = 3 if quick else STEP_SECONDS
    # enough silent calls a side for a p99 that is not just the slowest call
    ring_rate, ring_calls = (2.0, 4) if quick else (4.0, 160)
    bench = E2E(url, calltakers=6 if quick else CALLTAKERS, per_uas=6 if quick else PER_UAS)
    out: dict[str, Any] = {
        "calltakers": len(bench.settings.asterisk.calltakers),
        "uas_processes": len(bench.uas_ports),
        "step_seconds": seconds,
        "keep_up_s": KEEP_UP_SECONDS,
        "modes": {},
    }
    try:
        bench.start(trace=True)
        for group in GROUPS:
            modes = {name: _first_calls(bench, name, ring_rate, ring_calls) for name in group}
            _climb(bench, modes, rates, seconds, quick)
            out["modes"].update(modes)
    finally:
        bench.stop()
        if not os.environ.get("SIAGA_BENCH_KEEP"):
            shutil.rmtree(bench.work, ignore_errors=True)
    g = out["modes"].get("gateway")
    for base, suffix in (("no_fastagi", ""), ("asterisk_alone", "_vs_asterisk_alone")):
        b = out["modes"].get(base)
        if not (g and b):
            continue
        out[f"ceiling_ratio{suffix}"] = (
            round(g["clean_ceiling_cps"] / b["clean_ceiling_cps"], 2)
            if b["clean_ceiling_cps"]
            else None
        )
        for p in ("p99", "p50"):
            out[f"ringing_{p}_added_ms{suffix}"] = round(
                g["ringing"][f"{p}_ms"] - b["ringing"][f"{p}_ms"], 2
            )
    return out


def _first_calls(bench: E2E, name: str, ring_rate: float, ring_calls: int) -> dict[str, Any]:
    """A way's INVITE-to-ringing calls and the time one call takes alone."""
    bench.mode(name)
    bench.drain()
    bench.start_calltakers(trace=True)
    ring = bench.place(ring_rate, ring_calls, trace=True, silent=True)
    time.sleep(2)
    ring_times = bench.ringing_times(ring)
    mode: dict[str, Any] = {
        "ringing": {
            "rate": ring_rate,
            "calls": ring_calls,
            "matched": len(ring_times),
            "failed": ring["failed"],
            **summary_ms(ring_times),
        },
        "steps": [],
    }
    bench.start_calltakers(trace=False)
    if MODES[name][0] and bench.gateway.proc is not None:
        mode["gateway_rss_kib"] = rss_kib(bench.gateway.proc.pid)[0]
    # the time one call takes alone, from its INVITE to the centre's BYE
    # (at a high rate: SIPp places the first call one period after it starts)
    mode["one_call_s"] = bench.place(100.0, 1)["after_last_s"]
    return mode


def _climb(
    bench: E2E,
    modes: dict[str, dict[str, Any]],
    rates: tuple[float, ...],
    seconds: int,
    quick: bool,
) -> None:
    """Step the rate up, the ways of ``modes`` taking turns at each rate (the one that went
    first at a rate goes second at the next), until each has failed a rate (then the rate
    ``REFINE_CPS`` above its last clean one is tried)."""
    clean = dict.fromkeys(modes, 0.0)
    going = list(modes)
    for i, rate in enumerate(rates):
        turns = going if i % 2 == 0 else going[::-1]
        for name, ok in _clean_at(bench, turns, modes, rate, seconds, quick).items():
            if ok:
                clean[name] = rate
                continue
            going.remove(name)
            retry = clean[name] + REFINE_CPS
            if clean[name] and retry < rate and not quick:
                if _clean_at(bench, [name], modes, retry, seconds, quick)[name]:
                    clean[name] = retry
        if not going:
            break
    for name, mode in modes.items():
        mode["clean_ceiling_cps"] = clean[name]


def _clean_at(
    bench: E2E,
    names: list[str],
    modes: dict[str, dict[str, Any]],
    rate: float,
    seconds: int,
    quick: bool,
) -> dict[str, bool]:
    """Whether ``rate`` is clean for each way of ``names``, trying them in turns: a way whose try
    fails tries again (``_verdict``), so one stray failure does not end its climb."""
    tries: dict[str, list[bool]] = {name: [] for name in names}
    verdicts: dict[str, bool] = {}
    while len(verdicts) < len(names):
        for name in names:
            if name in verdicts:
                continue
            bench.mode(name)
            bench.drain()  # the previous step's last calls end first
            tries[name].append(_step(bench, name, modes[name], rate, seconds, quick))
            verdict = _verdict(tries[name], quick)
            if verdict is not None:
                verdicts[name] = verdict
    return verdicts


def _verdict(tries: list[bool], quick: bool) -> bool | None:
    """A rate is clean when its first try is, or two of three are; None: try again."""
    if tries[0] or quick:
        return tries[0]
    passed = sum(tries)
    if passed >= 2 or len(tries) - passed >= 2:
        return passed >= 2
    return None


def _step(
    bench: E2E, name: str, mode: dict[str, Any], rate: float, seconds: int, quick: bool
) -> bool:
    """Place one step's calls at ``rate`` the way ``name``, record it in ``mode`` (which holds
    the time one call takes alone) and say whether it was clean."""
    with_gateway = MODES[name][0]
    step = bench.place(rate, int(rate * seconds))
    step["try"] = 1 + sum(1 for st in mode["steps"] if st["rate"] == rate)
    step.pop("trace")
    numbers = step.pop("numbers")
    if with_gateway:
        step["tickets"], step["tickets_settle_s"] = bench.tickets_settled(numbers)
    else:
        step["tickets"] = None
    step["kept_up"] = step["after_last_s"] <= mode["one_call_s"] + KEEP_UP_SECONDS
    step["clean"] = (
        step["sipp_rc"] == 0
        and step["failed"] == 0
        and step["successful"] == step["calls"]
        and (not with_gateway or step["tickets"] == step["calls"])
        and (quick or step["kept_up"])
    )
    if with_gateway and bench.gateway.proc is not None:
        step["gateway_peak_rss_kib"] = rss_kib(bench.gateway.proc.pid)[1]
    mode["steps"].append(step)
    return bool(step["clean"])
