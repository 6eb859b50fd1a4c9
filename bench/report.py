"""``BENCHMARKS.md`` from the figures of one run, and ``bench/findings.md`` (profiling notes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FINDINGS = Path(__file__).with_name("findings.md")


def _kib(v: int | None) -> str:
    return f"{v / 1024:.1f} MiB" if v else "-"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def _targets(s: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    f = s.get("fastagi") or {}
    # the target is read at the open-loop level offered at the target rate (see _fastagi)
    target = next((lv for lv in f.get("open_loop", []) if lv.get("offered_per_s") == 1000), None)
    if target:
        ok = (
            target["sessions_per_s"] >= 990
            and target["p99_ms"] < 20
            and target["errors"] == 0
            and target["tickets"] == target["sessions"]
        )
        rows.append(
            (
                "FastAGI, 1,000 sessions/s offered, up to 200 open",
                "≥ 1,000 sessions/s, p99 < 20 ms",
                f"{target['sessions_per_s']} sessions/s, p99 {target['p99_ms']} ms, "
                f"peak {target.get('peak_open')} open, "
                f"tickets {target['tickets']}/{target['sessions']}",
                _verdict(ok),
            )
        )
    e = s.get("e2e") or {}
    if e.get("ceiling_ratio") is not None or "modes" in e:
        modes = e.get("modes", {})
        g = modes.get("gateway", {})
        # runs before the three ways had one baseline, Asterisk alone, named "bare"
        b = modes.get("no_fastagi") or modes.get("bare", {})
        against = "without the FastAGI step" if "no_fastagi" in modes else "Asterisk alone"
        ratio = e.get("ceiling_ratio")
        rows.append(
            (
                "Clean call rate with the gateway in the path",
                "≥ 90% of the same dialplan's without the FastAGI step",
                f"{g.get('clean_ceiling_cps')} vs {b.get('clean_ceiling_cps')} calls/s "
                f"({ratio if ratio is not None else '-'}; against {against})",
                _verdict(None if ratio is None else ratio >= 0.9),
            )
        )
        alone = modes.get("asterisk_alone")
        if alone:
            rows.append(
                (
                    "Clean call rate of the whole centre, for reference",
                    "(no target: Siaga112 against no Siaga112)",
                    f"{g.get('clean_ceiling_cps')} vs {alone.get('clean_ceiling_cps')} calls/s "
                    f"({e.get('ceiling_ratio_vs_asterisk_alone')}; against Asterisk alone)",
                    "-",
                )
            )
        added = e.get("ringing_p99_added_ms")
        rows.append(
            (
                "INVITE to ringing, p99 added",
                "≤ 10 ms",
                f"{added} ms ({g.get('ringing', {}).get('p99_ms')} vs "
                f"{b.get('ringing', {}).get('p99_ms')} ms, against {against})",
                _verdict(None if added is None else added <= 10),
            )
        )
    w = s.get("webhooks") or {}
    if "deliveries_per_s" in w:
        rows.append(
            (
                "Webhook deliveries",
                "≥ 500/s",
                f"{w['deliveries_per_s']}/s",
                _verdict(w["deliveries_per_s"] >= 500),
            )
        )
    a = s.get("api") or {}
    if a.get("http"):
        worst = max(v["p99_ms"] for v in a["http"].values())
        rows.append(
            (
                "API list/search p99 at 1,000,000 tickets",
                "< 50 ms",
                f"worst {worst} ms",
                _verdict(worst < 50),
            )
        )
    elif "database" in a:
        worst = max(v["p99_ms"] for v in a["database"].values())
        rows.append(
            (
                "API list/search p99 at 1,000,000 tickets",
                "< 50 ms",
                f"no tickets route in api/ yet; database part worst p99 {worst} ms",
                "-",
            )
        )
    return rows


def _fastagi(f: dict[str, Any]) -> list[str]:
    lines = [
        "Closed loop (saturation):",
        "",
        "| concurrent | sessions | sessions/s | p50 ms | p99 ms | max ms | tickets | "
        "errors | gateway peak RSS | CPU ms/session: gateway, PostgreSQL, client | "
        "projected/s on free cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in f.get("levels", []):
        cpu = lv.get("cpu_ms_per_session") or {}
        # PostgreSQL's figure sums its live backends: when the pool closed some during the level,
        # their CPU left the sum and the figure is not usable
        usable = bool(cpu) and all(v >= 0 for v in cpu.values())
        cpu_text = (
            f"{cpu.get('gateway')}, {cpu.get('postgres')}, {cpu.get('client')}" if usable else "-"
        )
        projected = lv.get("projected_per_s", "-") if usable else "-"
        lines.append(
            f"| {lv['concurrency']} | {lv['sessions']} | {lv['sessions_per_s']} | "
            f"{lv['p50_ms']} | {lv['p99_ms']} | {lv['max_ms']} | {lv['tickets']} | "
            f"{lv['errors']} | {_kib(lv.get('gateway_peak_rss_kib'))} | {cpu_text} | "
            f"{projected} |"
        )
    lines += [
        "",
        "_Projected_: the cores' time divided by the CPU the three processes spent per session "
        "(what this box would do with nothing else running); the measured rate is lower when "
        "other work shares the cores.",
        "",
        "The levels above are closed loops (each connection starts its next session when the "
        "last ends): saturation figures, whose latency is concurrency / throughput by Little's "
        "law. The target is read from an open loop: sessions offered at a steady rate whatever "
        "became of earlier ones, at most 200 open at once, latency from each session's due time "
        "(waiting for a free connection counts).",
        "",
        "| offered/s | sessions | achieved/s | p50 ms | p99 ms | max ms | peak open | tickets | "
        "errors | CPU ms/session: gateway, PostgreSQL, client | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in f.get("open_loop", []):
        cpu = lv.get("cpu_ms_per_session") or {}
        usable = bool(cpu) and all(v >= 0 for v in cpu.values())
        cpu_text = (
            f"{cpu.get('gateway')}, {cpu.get('postgres')}, {cpu.get('client')}" if usable else "-"
        )
        lines.append(
            f"| {lv.get('offered_per_s')} | {lv['sessions']} | {lv['sessions_per_s']} | "
            f"{lv['p50_ms']} | {lv['p99_ms']} | {lv['max_ms']} | {lv.get('peak_open')} | "
            f"{lv['tickets']} | {lv['errors']} | {cpu_text} | {lv.get('load_before', '-')} |"
        )
    lines += [
        "",
        "Classic per-process AGI script (pyst2, `bench/classic_agi.py`, same decision):",
        "",
        "| processes at once | sessions | sessions/s | p50 ms | p99 ms | tickets |",
        "|---|---|---|---|---|---|",
    ]
    for c in f.get("classic", []):
        lines.append(
            f"| {c['concurrency']} | {c['sessions']} | {c['sessions_per_s']} | "
            f"{c['p50_ms']} | {c['p99_ms']} | {c['tickets']} |"
        )
    lines += [
        "",
        f"FastAGI / classic: **{f.get('ratio_throughput')}×** the sessions per second "
        f"(best of each); **{f.get('ratio_latency_c1')}×** lower p50 latency one at a time.",
    ]
    return lines


def _tickets(step: dict[str, Any]) -> str:
    if step.get("tickets") is None:
        return "-"
    waited = step.get("tickets_settle_s")
    return f"{step['tickets']}" + (f" ({waited})" if waited is not None else "")


def _cpu(step: dict[str, Any]) -> str:
    cpu = step.get("cpu_ms_per_call")
    if not cpu:
        return "-"
    parts = [f"{cpu[k]:.1f}" if cpu.get(k) else "-" for k in ("gateway", "asterisk", "postgres")]
    return f"{cpu.get('machine', 0):.1f} ({' / '.join(parts)})"


def _e2e(e: dict[str, Any]) -> list[str]:
    if "skipped" in e:
        return [f"Skipped: {e['skipped']}"]
    lines = [
        f"{e.get('calltakers')} call-taker accounts on {e.get('uas_processes')} SIPp uas "
        "processes (ring 50 ms, talk 500 ms). In the rate steps callers press 1 a second into "
        "the greeting; the INVITE-to-ringing calls stay silent (whole greeting, prompt and "
        "silence: a fixed time on Asterisk's side, so the difference is the FastAGI step).",
        "",
    ]
    if "no_fastagi" in e.get("modes", {}):
        lines += [
            "Three ways on the same Asterisk: **gateway** (the centre as it runs), "
            "**no_fastagi** (the same centre and dialplan without the FastAGI step: the gateway "
            "opens each call's ticket from the AMI events; the baseline of the target), taking "
            "turns at each rate (first and second by turns) so both meet the same state of the "
            "shared machine, then "
            "**asterisk_alone** (the same dialplan, gateway stopped: no tickets; what the "
            "machine takes with no Siaga112 at all).",
            "",
        ]
    if e.get("step_seconds"):
        lines += [
            f"Each rate is held for {e['step_seconds']} s. A step is clean when every call "
            "succeeds, every call has its ticket (where the gateway runs), and the centre kept "
            f"up: its last call ended within {e.get('keep_up_s')} s of the time one call takes "
            "alone after the last call was placed. Before every step the centre drains (no call "
            "left; Asterisk, the gateway and PostgreSQL quiet). A rate "
            "is clean for a way when its first step there is, or two of three are (a failed step "
            "is tried again: the try column); after the first rate that fails, the rate 5 "
            "calls/s above the last clean one is tried the same way. CPU is per call "
            "placed, in ms: the whole machine (SIPp included), then the gateway / Asterisk / "
            "PostgreSQL.",
            "",
        ]
    for name, m in e.get("modes", {}).items():
        r = m.get("ringing", {})
        lines += [
            f"**{name}**: highest clean rate **{m.get('clean_ceiling_cps')} calls/s**; "
            f"INVITE to ringing at {r.get('rate')} calls/s "
            f"({r.get('matched')}/{r.get('calls')} calls matched): "
            f"p50 {r.get('p50_ms')} ms, p99 {r.get('p99_ms')} ms, "
            f"max {r.get('max_ms')} ms"
            + (f"; one call alone takes {m['one_call_s']} s" if m.get("one_call_s") else ""),
            "",
            "| calls/s | try | calls | successful | failed | tickets (s waited) "
            "| last call ended (s after placed) | CPU ms/call: machine (gateway / Asterisk / "
            "PostgreSQL) | clean | gateway RSS (peak) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for st in m.get("steps", []):
            lines.append(
                f"| {st['rate']} | {st.get('try', 1)} | {st['calls']} | {st['successful']} | "
                f"{st['failed']} | "
                f"{_tickets(st)} | {st.get('after_last_s', '-')} | {_cpu(st)} | "
                f"{'yes' if st['clean'] else 'no'} | "
                f"{_kib(st.get('gateway_peak_rss_kib'))} |"
            )
        lines.append("")
    return lines


def _webhooks(w: dict[str, Any]) -> list[str]:
    b = w.get("backlog_commit_to_receipt", {})
    d = w.get("dispatch_to_receipt", {})
    out = [
        f"- Backlog of {w.get('backlog')} messages committed at once: {w.get('backlog_received')} "
        f"received, **{w.get('deliveries_per_s')} deliveries/s** to the last receipt "
        f"({w.get('recorded_per_s')}/s recorded as delivered in the database); commit to receipt "
        f"p50 {b.get('p50_ms')} ms, p99 {b.get('p99_ms')} ms (queueing behind the backlog).",
        f"- Dispatch to receipt, {w.get('steady_messages')} messages one per transaction at "
        f"{w.get('steady_rate_per_s')}/s: {w.get('steady_received')} received, "
        f"**p50 {d.get('p50_ms')} ms, p99 {d.get('p99_ms')} ms**, max {d.get('max_ms')} ms.",
    ]
    cpu = w.get("cpu_ms_per_delivery")
    if cpu and sum(cpu.values()) > 0:
        where = {"process": "`python -m gateway.delivery`", "gateway": "the gateway's workers"}
        parts = ", ".join(f"{name} {ms}" for name, ms in cpu.items())
        out.append(
            f"- Delivered by {where.get(w.get('delivery_in', ''), w.get('delivery_in'))}. "
            f"CPU ms per delivery during the backlog: {parts} (PostgreSQL: all its processes); "
            f"{round(2000 / sum(cpu.values()))}/s projected on 2 free cores."
        )
    return out


def _api(a: dict[str, Any]) -> list[str]:
    ld = a.get("load", {})
    lines = [
        f"{ld.get('rows')} tickets (generated in SQL in {ld.get('load_s')} s, "
        f"{ld.get('indexes')} secondary indexes rebuilt).",
        "",
    ]
    if a.get("http"):
        lines += [
            f"HTTP (`{a['routes'].get('list')}`, one request at a time):",
            "",
            "| request | status | p50 ms | p99 ms | max ms | CPU ms/request: API, PostgreSQL |",
            "|---|---|---|---|---|---|",
        ]
        for k, v in a["http"].items():
            cpu = f"{v['api_cpu_ms']}, {v.get('pg_cpu_ms', '-')}" if "api_cpu_ms" in v else "-"
            lines.append(
                f"| {k} | {v['status']} | {v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} | {cpu} |"
            )
        lines.append("")
    else:
        lines += [
            "HTTP: **not measured** — the API has no `GET .../tickets` route yet (issue 3 "
            "is being written); the benchmark finds it by itself once it exists.",
            "",
        ]
    lines += [
        "Database queries a keyset list and a free-text search need (same table):",
        "",
        "| query | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
    ]
    for k, v in a.get("database", {}).items():
        lines.append(f"| {k} | {v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} |")
    c = a.get("create", {})
    lines += [
        "",
        "Ticket creation (arrivals as the gateway writes them: "
        "`gateway.call_path.arrival_writer.ArrivalWriter`, "
        "the arrivals that queue while a batch is written go as the next, one autocommit "
        f"statement a batch; {c.get('concurrency')} in flight, at 1,000,000 rows): "
        f"**{c.get('tickets_per_s')} "
        f"tickets/s**, p50 {c.get('p50_ms')} ms, p99 {c.get('p99_ms')} ms"
        + (
            f"; CPU per ticket: {per['client']} ms in the opening process, "
            f"{per['postgresql']} ms in PostgreSQL."
            if (per := c.get("cpu_ms_per_ticket"))
            else "."
        ),
    ]
    return lines


def write(results: dict[str, Any], path: Path) -> None:
    m = results["machine"]
    s = results["sections"]
    out = [
        "# Siaga112 benchmarks",
        "",
        "What putting the gateway in the call path costs, measured on this machine. "
        "Generated by the command below (several runs: each section comes from its own, with the "
        "load average when it began); every figure is as measured, on loopback only.",
        "",
        f"Command: `{results['command']}` (total {results['total_seconds']} s)"
        + (" — **quick smoke sizes, not the real figures**" if results.get("quick") else ""),
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in m.items()]
    out += [
        "",
        "The machine is shared: the load average before and after is part of the record; "
        "other work on the same 2 cores lowers every figure here.",
        "",
        "## Against the targets",
        "",
        "| what | target | measured | |",
        "|---|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _targets(s)]
    for name, title, render in (
        ("fastagi", "1. FastAGI: the `incoming` route with PostgreSQL", _fastagi),
        ("e2e", "2. End to end through Asterisk with SIPp", _e2e),
        ("webhooks", "3. Webhook delivery", _webhooks),
        ("api", "4. Tickets API at 1,000,000 tickets", _api),
    ):
        section = s.get(name)
        if section is None:
            continue
        out += [
            "",
            f"## {title}",
            "",
            f"_{section.get('_seconds')} s, load average {section.get('_load_before')} "
            "when it began._",
            "",
        ]
        out += [f"Failed: `{section['error']}`"] if "error" in section else render(section)
    f = s.get("fastagi") or {}
    e = s.get("e2e") or {}
    if f and "error" not in f:
        g = e.get("modes", {}).get("gateway", {}) if isinstance(e, dict) else {}
        g_peak = max([st.get("gateway_peak_rss_kib") or 0 for st in g.get("steps", [])] or [0])
        out += [
            "",
            "## 5. Gateway memory",
            "",
            f"- FastAGI bench gateway process: {_kib(f.get('rss_start_kib'))} after start, "
            f"{_kib(f.get('rss_rest_kib'))} at rest after warm-up, peak "
            f"{_kib(max((lv.get('gateway_peak_rss_kib') or 0) for lv in f.get('levels', [])))}"
            " with 200 AGI sessions in flight continuously, high-water mark "
            f"{_kib(f.get('rss_hwm_kib'))}.",
            f"- The full gateway (`python -m gateway`, AMI included) behind Asterisk: "
            f"{_kib(g.get('gateway_rss_kib'))} after its first calls, high-water mark "
            f"{_kib(g_peak)}"
            " through the call-rate steps.",
        ]
    out += [
        "",
        "## How each is measured",
        "",
        "- FastAGI: `bench/agi_server.py` runs `gateway.main.build` + `start` (the real route, "
        "fact store, spool, delivery workers; no AMI) in its own process against a fresh "
        "migrated PostgreSQL (`ops.postgres.LocalPostgres`). `bench/agi_load.py`, a separate "
        "process, speaks AGI to it as Asterisk does (the variable block Asterisk 22 sends, "
        "then `200 result=...` to each command, one at a time), either from N connections "
        "with sessions back to back (closed loop; latency connect to close) or at a steady "
        "offered rate with at most 200 open (open loop; latency from each session's due time). "
        "A session counts as ticketed when the gateway set `SIAGA_TICKET`. The classic "
        "script is started as a process per session with the "
        "AGI protocol on stdin/stdout, as Asterisk does.",
        "- End to end: `bench/e2e.py` (see its docstring). Without the FastAGI step = the same "
        "rendered dialplan with the `AGI(...)` line replaced by `Set(AGISTATUS=SUCCESS)`; the "
        "gateway's reconciliation rounds are off wherever it runs "
        "(`SIAGA_ASTERISK__RECONCILE_SECONDS=0`).",
        "- Webhooks: `bench/webhooks.py`: the delivery process as the run command starts it "
        "(`python -m gateway.delivery`, default settings) to `bench/receiver.py` (a raw asyncio "
        "HTTP/1.1 server) in another process; CPU per delivery read from `/proc`.",
        "- API: `bench/api.py`.",
        "",
    ]
    if FINDINGS.exists():
        out += [FINDINGS.read_text().rstrip(), ""]
    path.write_text("\n".join(out) + "\n")
