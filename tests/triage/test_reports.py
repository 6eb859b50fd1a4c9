"""The centre's reports on a known set of calls and dispatches, with every figure computed by hand.

Day 1 and day 2 are local days in Asia/Jakarta (UTC+7), picked at random far from other tests' data:

day 1 (inbound): answered after 5 s (emergency), 12 s (information), 18 s (prank), 30 s
(unclassified); abandoned in the queue (ghost); dropped at 23:30 WIB = 16:30 UTC (ghost).
A callback call on day 1 is not an inbound call and is not counted.
day 2: at 00:30 WIB = 17:30 UTC of day 1, answered after 8 s (emergency); failed (unclassified).
day 3: nothing.

Answer times day 1: [5, 12, 18, 30]: within 10 s 1/4, 15 s 2/4, 20 s 3/4; average 16.25;
90th percentile (continuous) at position 0.9 * 3 = 2.7: 18 + 0.7 * (30 - 18) = 26.4.
All days: [5, 8, 12, 18, 30]: 2/5, 3/5, 4/5; average 14.6; position 3.6: 18 + 0.6 * 12 = 25.2.
Queue waits of answered calls (2 s less each; the abandoned call's 40 s wait is not an answer):
day 1 [3, 10, 16, 28]: average 14.25, p90 16 + 0.7 * 12 = 24.4; day 2 [6]; all [3, 6, 10, 16, 28]:
average 12.6, p90 16 + 0.6 * 12 = 23.2.

Dispatches: agency A on day 1: acknowledged after 60, 120, 300 s (median 120; p90 at 1.8:
120 + 0.8 * 180 = 264), on scene after 600, 900 s (median 750; p90 600 + 0.9 * 300 = 870) and one
never. Agency B at 00:30 WIB of day 2: acknowledged after 30 s, not on scene.
"""

from __future__ import annotations

import csv
import io
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models import Agency, Dispatch
from services.reports import service as reports
from tests.api.conftest import Client, People
from tests.triage.conftest import add_call, new_number


@dataclass(frozen=True)
class Known:
    day1: date
    agency_a: str
    agency_b: str

    @property
    def day2(self) -> date:
        return self.day1 + timedelta(days=1)

    @property
    def day3(self) -> date:
        return self.day1 + timedelta(days=2)


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
async def known(engine: AsyncEngine) -> AsyncIterator[Known]:
    # the first 27 days of a month, so that the three days are in one month
    day1 = date(random.randint(2045, 2095), random.randint(1, 12), random.randint(1, 26))
    tag = secrets.token_hex(4)
    k = Known(day1, f"a{tag}", f"b{tag}")
    async with AsyncSession(engine, expire_on_commit=False) as s:
        morning = utc(day1, 3)  # 10:00 WIB
        n = new_number
        t1, _ = await add_call(
            s, n(), morning, classification="emergency", answer_after=5, wait_seconds=3
        )
        t2, _ = await add_call(
            s,
            n(),
            morning,
            classification="information",
            answer_after=12,
            wait_seconds=10,
        )
        t3, _ = await add_call(
            s, n(), morning, classification="prank", answer_after=18, wait_seconds=16
        )
        await add_call(s, n(), morning, answer_after=30, wait_seconds=28)
        await add_call(
            s, n(), morning, outcome="abandoned", classification="ghost", wait_seconds=40
        )
        await add_call(s, n(), utc(day1, 16, 30), outcome="dropped", classification="ghost")
        await add_call(
            s, n(), morning, direction="callback", answer_after=2, classification="emergency"
        )
        late = utc(day1, 17, 30)  # 00:30 WIB on day 2
        t7, _ = await add_call(
            s, n(), late, classification="emergency", answer_after=8, wait_seconds=6
        )
        await add_call(s, n(), utc(k.day2, 5), outcome="failed")
        a = Agency(code=k.agency_a, name="Damkar Laporan", categories=["FIRE"])
        b = Agency(code=k.agency_b, name="PSC Laporan", categories=["HEALTH"])
        s.add_all([a, b])
        await s.flush()

        def sec(x: float | None) -> datetime | None:
            return None if x is None else morning + timedelta(seconds=x)

        for ticket, ack, scene in ((t1, 60, 600), (t2, 120, 900), (t3, 300, None)):
            s.add(
                Dispatch(
                    ticket_id=ticket.id,
                    agency_id=a.id,
                    state="acknowledged",
                    dispatched_by="ct",
                    created_at=morning,
                    acknowledged_at=sec(ack),
                    on_scene_at=sec(scene),
                )
            )
        s.add(
            Dispatch(
                ticket_id=t7.id,
                agency_id=b.id,
                state="acknowledged",
                dispatched_by="ct",
                created_at=late,
                acknowledged_at=late + timedelta(seconds=30),
            )
        )
        await s.commit()
    yield k


DAY1 = {
    "calls": 6,
    "emergency": 1,
    "information": 1,
    "prank": 1,
    "ghost": 2,
    "unclassified": 1,
    "answered": 4,
    "answered_within_10s": 1,
    "answered_within_15s": 2,
    "answered_within_20s": 3,
    "abandoned": 1,
    "dropped": 1,
    "failed": 0,
    "share_within_10s": 0.25,
    "share_within_15s": 0.5,
    "share_within_20s": 0.75,
    "avg_answer_seconds": 16.25,
    "p90_answer_seconds": 26.4,
    "abandon_rate": 0.1667,
    "avg_queue_wait_seconds": 14.25,
    "p90_queue_wait_seconds": 24.4,
}
DAY2 = {
    "calls": 2,
    "emergency": 1,
    "information": 0,
    "prank": 0,
    "ghost": 0,
    "unclassified": 1,
    "answered": 1,
    "answered_within_10s": 1,
    "answered_within_15s": 1,
    "answered_within_20s": 1,
    "abandoned": 0,
    "dropped": 0,
    "failed": 1,
    "share_within_10s": 1.0,
    "share_within_15s": 1.0,
    "share_within_20s": 1.0,
    "avg_answer_seconds": 8.0,
    "p90_answer_seconds": 8.0,
    "abandon_rate": 0.0,
    "avg_queue_wait_seconds": 6.0,
    "p90_queue_wait_seconds": 6.0,
}
DAY3 = {
    "calls": 0,
    "emergency": 0,
    "information": 0,
    "prank": 0,
    "ghost": 0,
    "unclassified": 0,
    "answered": 0,
    "answered_within_10s": 0,
    "answered_within_15s": 0,
    "answered_within_20s": 0,
    "abandoned": 0,
    "dropped": 0,
    "failed": 0,
    "share_within_10s": None,
    "share_within_15s": None,
    "share_within_20s": None,
    "avg_answer_seconds": None,
    "p90_answer_seconds": None,
    "abandon_rate": None,
    "avg_queue_wait_seconds": None,
    "p90_queue_wait_seconds": None,
}
TOTAL = {
    "calls": 8,
    "emergency": 2,
    "information": 1,
    "prank": 1,
    "ghost": 2,
    "unclassified": 2,
    "answered": 5,
    "answered_within_10s": 2,
    "answered_within_15s": 3,
    "answered_within_20s": 4,
    "abandoned": 1,
    "dropped": 1,
    "failed": 1,
    "share_within_10s": 0.4,
    "share_within_15s": 0.6,
    "share_within_20s": 0.8,
    "avg_answer_seconds": 14.6,
    "p90_answer_seconds": 25.2,
    "abandon_rate": 0.125,
    "avg_queue_wait_seconds": 12.6,
    "p90_queue_wait_seconds": 23.2,
}


def agency_rows(k: Known) -> list[dict[str, object]]:
    return [
        {
            "period": k.day1.isoformat(),
            "agency_code": k.agency_a,
            "agency_name": "Damkar Laporan",
            "dispatches": 3,
            "acknowledged": 3,
            "on_scene": 2,
            "ack_median_seconds": 120.0,
            "ack_p90_seconds": 264.0,
            "on_scene_median_seconds": 750.0,
            "on_scene_p90_seconds": 870.0,
        },
        {
            "period": k.day2.isoformat(),
            "agency_code": k.agency_b,
            "agency_name": "PSC Laporan",
            "dispatches": 1,
            "acknowledged": 1,
            "on_scene": 0,
            "ack_median_seconds": 30.0,
            "ack_p90_seconds": 30.0,
            "on_scene_median_seconds": None,
            "on_scene_p90_seconds": None,
        },
    ]


def rng(k: Known, period: str = "day") -> reports.Range:
    return reports.make_range(period, k.day1, k.day3, k.day3)


async def test_daily_calls_report_in_jakarta_days(session: AsyncSession, known: Known) -> None:
    data = await reports.calls_report(session, rng(known))
    assert [r["period"] for r in data["rows"]] == [
        d.isoformat() for d in (known.day1, known.day2, known.day3)
    ]
    assert data["rows"][0] == {"period": known.day1.isoformat(), **DAY1}
    assert data["rows"][1] == {"period": known.day2.isoformat(), **DAY2}
    assert data["rows"][2] == {"period": known.day3.isoformat(), **DAY3}
    assert data["total"] == {"period": "total", **TOTAL}
    assert data["timezone"] == "Asia/Jakarta"


async def test_monthly_calls_report(session: AsyncSession, known: Known) -> None:
    data = await reports.calls_report(session, rng(known, "month"))
    month = known.day1.strftime("%Y-%m")
    assert data["rows"] == [{"period": month, **TOTAL}]


async def test_agency_times(session: AsyncSession, known: Known) -> None:
    data = await reports.agencies_report(session, rng(known))
    mine = [r for r in data["rows"] if r["agency_code"] in (known.agency_a, known.agency_b)]
    assert mine == agency_rows(known)
    totals = {r["agency_code"]: r for r in data["total"]}
    assert totals[known.agency_a]["dispatches"] == 3
    assert totals[known.agency_b]["ack_median_seconds"] == 30.0


def test_bad_ranges_are_refused() -> None:
    today = date(2041, 1, 10)
    for period, first, last in (
        ("week", None, None),
        ("day", date(2041, 1, 10), date(2041, 1, 9)),
        ("day", date(2030, 1, 1), date(2041, 1, 1)),
    ):
        with pytest.raises(reports.ValidationFailed):
            reports.make_range(period, first, last, today)
    default = reports.make_range("day", None, None, today)
    assert (default.first, default.last) == (date(2041, 1, 4), today)


async def test_reports_over_the_api_as_json_and_csv(
    client: Client, people: People, known: Known
) -> None:
    spv = await client(people.supervisor)
    query = f"from={known.day1}&to={known.day3}"
    r = await spv.get(f"/reports/calls?period=day&{query}")
    assert r.status_code == 200, r.text
    assert r.json()["rows"][0] == {"period": known.day1.isoformat(), **DAY1}

    r = await spv.get(f"/reports/calls?{query}&format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == list(reports.CALL_COLUMNS)
    assert [row["period"] for row in rows] == [
        known.day1.isoformat(),
        known.day2.isoformat(),
        known.day3.isoformat(),
        "total",
    ]
    assert rows[0]["calls"] == "6" and rows[0]["p90_answer_seconds"] == "26.4"
    assert rows[0]["share_within_15s"] == "0.5" and rows[0]["abandon_rate"] == "0.1667"
    assert rows[2]["avg_answer_seconds"] == ""  # no answered call that day
    assert rows[3]["calls"] == "8" and rows[3]["avg_answer_seconds"] == "14.6"

    r = await spv.get(f"/reports/agencies?{query}", headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = [x for x in csv.DictReader(io.StringIO(r.text)) if x["agency_code"] == known.agency_a]
    assert lines[0]["ack_p90_seconds"] == "264.0" and lines[0]["on_scene_median_seconds"] == "750.0"

    admin = await client(people.admin)
    assert (await admin.get(f"/reports/agencies?{query}")).status_code == 200


@pytest.mark.parametrize("who", ["calltaker", "agency"])
async def test_reports_are_for_supervisors(client: Client, people: People, who: str) -> None:
    c = await client(getattr(people, who))
    assert (await c.get("/reports/calls")).status_code == 403
    assert (await (await client()).get("/reports/calls")).status_code == 401


async def test_bad_report_query_is_a_clear_error(client: Client, people: People) -> None:
    spv = await client(people.supervisor)
    r = await spv.get("/reports/calls?from=2041-02-10&to=2041-02-01")
    assert r.status_code == 422 and r.json()["error_id"] == "validation-failed"
    r = await spv.get("/reports/calls?period=year")
    assert r.status_code == 422 and r.json()["error_id"] == "validation-failed"
