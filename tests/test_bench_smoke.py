"""Tiny runs of every benchmark (``bench/``), so they keep working as the code changes. They check
that each produces its figures and that ``BENCHMARKS.md`` can be written from them; never how fast
anything is."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import api, e2e, fastagi, webhooks
from bench.common import machine, postgres
from bench.report import write

FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def bench_database() -> Iterator[str]:
    with postgres() as url:
        yield url


def test_fastagi_bench_reports_sessions_latency_classic_ratio_and_memory(
    bench_database: str,
) -> None:
    figures = fastagi.run(bench_database, quick=True)

    assert [lv["concurrency"] for lv in figures["levels"]] == [1, 50, 200]
    for level in figures["levels"]:
        assert level["sessions"] + level["errors"] > 0
        assert {"sessions_per_s", "p50_ms", "p99_ms", "tickets", "projected_per_s"} <= level.keys()
        assert set(level["cpu_ms_per_session"]) == {"gateway", "postgres", "client"}
    assert figures["levels"][0]["tickets"] == figures["levels"][0]["sessions"]
    assert figures["open_loop"], "an open-loop level at an offered rate"
    for level in figures["open_loop"]:
        assert level["offered_per_s"] > 0 and level["sessions"] + level["errors"] > 0
        assert {"p50_ms", "p99_ms", "max_ms", "peak_open", "tickets"} <= level.keys()
        assert 0 < level["peak_open"] <= fastagi.OPEN_MAX
    assert all(c["tickets"] == c["sessions"] > 0 for c in figures["classic"])
    assert all(c["errors"] == 0 for c in figures["classic"])
    assert figures["ratio_throughput"] is not None
    assert figures["rss_rest_kib"] > 0
    FIGURES["fastagi"] = figures


def test_webhook_bench_reports_deliveries_and_dispatch_to_receipt(bench_database: str) -> None:
    figures = webhooks.run(bench_database, quick=True)

    assert figures["backlog_received"] == figures["backlog"]
    assert figures["steady_received"] == figures["steady_messages"]
    assert figures["deliveries_per_s"] > 0
    assert {"p50_ms", "p99_ms"} <= figures["dispatch_to_receipt"].keys()
    FIGURES["webhooks"] = figures


def test_api_bench_loads_tickets_and_reports_queries_and_creation(bench_database: str) -> None:
    figures = api.run(bench_database, quick=True)

    assert figures["load"]["rows"] >= 20_000
    assert len(figures["database"]) == len(api.DB_QUERIES)
    assert figures["create"]["tickets"] == 200
    if figures["http"] is not None:  # once the tickets API serves its list
        assert all(v["status"] == 200 for v in figures["http"].values())
    FIGURES["api"] = figures


@pytest.mark.e2e
def test_end_to_end_bench_reports_the_three_ways(bench_database: str) -> None:
    if shutil.which("sipp") is None:
        pytest.skip("SIPp is not installed")

    figures = e2e.run(bench_database, quick=True)

    assert list(figures["modes"]) == list(e2e.MODES)
    for name, (gateway, _) in e2e.MODES.items():
        mode = figures["modes"][name]
        assert mode["steps"] and mode["ringing"]["matched"] > 0
        assert mode["clean_ceiling_cps"] > 0
        for step in mode["steps"]:
            # without the FastAGI step the gateway still opens every call's ticket
            assert step["tickets"] == (step["calls"] if gateway else None)
            assert step["after_last_s"] > 0
            cpu = step["cpu_ms_per_call"]
            assert set(cpu) == {"gateway", "asterisk", "postgres", "machine"}
            assert cpu["asterisk"] > 0 and cpu["machine"] > 0
            assert (cpu["gateway"] > 0) is gateway
    assert figures["ceiling_ratio"] is not None
    assert figures["ceiling_ratio_vs_asterisk_alone"] is not None
    FIGURES["e2e"] = figures


def test_a_rate_is_clean_when_its_first_step_is_or_two_of_three_are() -> None:
    verdict = e2e._verdict
    assert verdict([True], quick=False) is True
    assert verdict([False], quick=False) is None  # tried again
    assert verdict([False, True], quick=False) is None
    assert verdict([False, True, True], quick=False) is True
    assert verdict([False, False], quick=False) is False
    assert verdict([False, True, False], quick=False) is False
    assert verdict([False], quick=True) is False  # the smoke run tries each rate once


def test_report_is_written_from_the_figures(tmp_path: Path) -> None:
    results = {
        "machine": machine(),
        "quick": True,
        "command": "bash bench/run --quick",
        "total_seconds": 1.0,
        "sections": FIGURES,
    }
    out = tmp_path / "BENCHMARKS.md"

    write(results, out)

    text = out.read_text()
    assert "## Machine" in text and "## Against the targets" in text
    headings = {"fastagi": "## 1.", "e2e": "## 2.", "webhooks": "## 3.", "api": "## 4."}
    for name in FIGURES:
        assert headings[name] in text
