"""The reports a centre must give, per day or per month in the centre's zone (Asia/Jakarta).

Two tables, each one SQL aggregate over an indexed time range (``ix_calls_arrived_at``,
``ix_dispatches_created_at``), with a total row (GROUPING SETS):

- calls: inbound calls by their ticket's classification (emergency = "normal" in the NTPD procedure,
  information, prank, ghost, unclassified); answer times measured from the call's arrival at the
  centre to a call taker answering, as NENA and NFPA measure them (the greeting and the silent-call
  step count: the caller waits through them): the share of answered calls answered within 10, 15
  and 20 s, the average and the 90th percentile (the slowest tenth start there); the queue wait of
  answered calls alone (calls.wait_seconds, Asterisk's hold time): average and 90th percentile;
  abandoned (hung up while queued), dropped (hung up before the queue) and failed calls;
  abandon rate = abandoned / calls.
- agencies: dispatches per agency, with the time from dispatch (dispatches.created_at) to the
  agency's acknowledgement and to on scene: median and 90th percentile, in seconds.

Days and months are the centre's local days (a call at 23:30 WIB belongs to that day, though it is
16:30 UTC). Periods without calls are listed with zeros.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.names import CallDirection, CallOutcome, Classification

ZONE = "Asia/Jakarta"
MAX_DAYS = 400
MAX_MONTHS = 60
TOTAL = "total"
CLASSES = (
    Classification.EMERGENCY.value,
    Classification.INFORMATION.value,
    Classification.PRANK.value,
    Classification.GHOST.value,
    "unclassified",
)


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Range:
    period: Period
    first: date  # first day (or first day of the first month)
    last: date  # last day included (or first day of the last month)
    zone: str = ZONE

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return datetime.combine(self.after_last, time(), ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def after_last(self) -> date:
        if self.period is Period.DAY:
            return self.last + timedelta(days=1)
        return _next_month(self.last)

    def labels(self) -> list[str]:
        out, current = [], self.first
        while current < self.after_last:
            out.append(_label(current, self.period))
            current = (
                current + timedelta(days=1) if self.period is Period.DAY else _next_month(current)
            )
        return out


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def _months(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def _label(d: date | datetime, period: Period) -> str:
    return d.strftime("%Y-%m-%d") if period is Period.DAY else d.strftime("%Y-%m")


def make_range(period: str, first: date | None, last: date | None, today: date) -> Range:
    """The range asked for: days ``first``..``last`` (inclusive), or the months they fall in.
    Defaults: the last 7 days, or this month."""
    try:
        p = Period(period)
    except ValueError as exc:
        raise ValidationFailed(
            "Periode harus 'day' atau 'month' / period must be 'day' or 'month'",
            {"fields": [{"field": "period", "message": "day or month"}]},
        ) from exc
    last = last or today
    first = first or (last - timedelta(days=6) if p is Period.DAY else last)
    if p is Period.MONTH:
        first, last = first.replace(day=1), last.replace(day=1)
    problem = None
    if first > last:
        problem = "'from' is after 'to'"
    elif p is Period.DAY and (last - first).days >= MAX_DAYS:
        problem = f"at most {MAX_DAYS} days"
    elif p is Period.MONTH and _months(first, last) >= MAX_MONTHS:
        problem = f"at most {MAX_MONTHS} months"
    if problem:
        raise ValidationFailed(
            f"Rentang laporan tidak valid / invalid report range: {problem}",
            {"fields": [{"field": "from", "message": problem}]},
        )
    return Range(p, first, last)


_CALLS_SQL = text(
    "WITH c AS (SELECT to_char(date_trunc(:unit, c.arrived_at AT TIME ZONE :zone), :fmt) AS p, "
    "c.outcome, COALESCE(t.classification, 'unclassified') AS cls, "
    "EXTRACT(EPOCH FROM (c.answered_at - c.arrived_at))::float8 AS answer_s, "
    "CASE WHEN c.answered_at IS NOT NULL THEN c.wait_seconds END AS wait_s "
    "FROM calls c LEFT JOIN tickets t ON t.id = c.ticket_id "
    "WHERE c.direction = :inbound AND c.arrived_at >= :start AND c.arrived_at < :end) "
    "SELECT p, count(*) AS calls, "
    "count(*) FILTER (WHERE cls = 'emergency') AS emergency, "
    "count(*) FILTER (WHERE cls = 'information') AS information, "
    "count(*) FILTER (WHERE cls = 'prank') AS prank, "
    "count(*) FILTER (WHERE cls = 'ghost') AS ghost, "
    "count(*) FILTER (WHERE cls = 'unclassified') AS unclassified, "
    "count(answer_s) AS answered, "
    "count(*) FILTER (WHERE answer_s <= 10) AS answered_within_10s, "
    "count(*) FILTER (WHERE answer_s <= 15) AS answered_within_15s, "
    "count(*) FILTER (WHERE answer_s <= 20) AS answered_within_20s, "
    "avg(answer_s) AS avg_answer_seconds, "
    "percentile_cont(0.9) WITHIN GROUP (ORDER BY answer_s) AS p90_answer_seconds, "
    "avg(wait_s) AS avg_queue_wait_seconds, "
    "percentile_cont(0.9) WITHIN GROUP (ORDER BY wait_s) AS p90_queue_wait_seconds, "
    "count(*) FILTER (WHERE outcome = :abandoned) AS abandoned, "
    "count(*) FILTER (WHERE outcome = :dropped) AS dropped, "
    "count(*) FILTER (WHERE outcome = :failed) AS failed "
    "FROM c GROUP BY GROUPING SETS ((p), ()) ORDER BY p NULLS LAST"
)

_AGENCIES_SQL = text(
    "WITH d AS (SELECT to_char(date_trunc(:unit, d.created_at AT TIME ZONE :zone), :fmt) AS p, "
    "a.code, a.name, "
    "EXTRACT(EPOCH FROM (d.acknowledged_at - d.created_at))::float8 AS ack_s, "
    "EXTRACT(EPOCH FROM (d.on_scene_at - d.created_at))::float8 AS scene_s "
    "FROM dispatches d JOIN agencies a ON a.id = d.agency_id "
    "WHERE d.created_at >= :start AND d.created_at < :end) "
    "SELECT p, code, min(name) AS name, count(*) AS dispatches, "
    "count(ack_s) AS acknowledged, count(scene_s) AS on_scene, "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s) AS ack_median_seconds, "
    "percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_s) AS ack_p90_seconds, "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY scene_s) AS on_scene_median_seconds, "
    "percentile_cont(0.9) WITHIN GROUP (ORDER BY scene_s) AS on_scene_p90_seconds "
    "FROM d GROUP BY GROUPING SETS ((p, code), (code)) ORDER BY p NULLS LAST, code"
)

CALL_COUNTS = (
    "calls",
    *CLASSES,
    "answered",
    "answered_within_10s",
    "answered_within_15s",
    "answered_within_20s",
    "abandoned",
    "dropped",
    "failed",
)
CALL_COLUMNS = (
    "period",
    *CALL_COUNTS,
    "share_within_10s",
    "share_within_15s",
    "share_within_20s",
    "avg_answer_seconds",
    "p90_answer_seconds",
    "avg_queue_wait_seconds",
    "p90_queue_wait_seconds",
    "abandon_rate",
)
AGENCY_COLUMNS = (
    "period",
    "agency_code",
    "agency_name",
    "dispatches",
    "acknowledged",
    "on_scene",
    "ack_median_seconds",
    "ack_p90_seconds",
    "on_scene_median_seconds",
    "on_scene_p90_seconds",
)


def _params(r: Range) -> dict[str, Any]:
    return {
        "unit": r.period.value,
        "zone": r.zone,
        "fmt": "YYYY-MM-DD" if r.period is Period.DAY else "YYYY-MM",
        "start": r.start_utc,
        "end": r.end_utc,
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _call_row(period: str, m: dict[str, Any] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"period": period}
    for name in CALL_COUNTS:
        row[name] = int(m[name]) if m else 0
    for s in (10, 15, 20):
        row[f"share_within_{s}s"] = _share(row[f"answered_within_{s}s"], row["answered"])
    row["avg_answer_seconds"] = _round(m["avg_answer_seconds"]) if m else None
    row["p90_answer_seconds"] = _round(m["p90_answer_seconds"]) if m else None
    row["avg_queue_wait_seconds"] = _round(m["avg_queue_wait_seconds"]) if m else None
    row["p90_queue_wait_seconds"] = _round(m["p90_queue_wait_seconds"]) if m else None
    row["abandon_rate"] = _share(row["abandoned"], row["calls"])
    return row


async def calls_report(session: AsyncSession, r: Range) -> dict[str, Any]:
    params = _params(r) | {
        "inbound": CallDirection.INBOUND.value,
        "abandoned": CallOutcome.ABANDONED.value,
        "dropped": CallOutcome.DROPPED.value,
        "failed": CallOutcome.FAILED.value,
    }
    found = {
        (row.p or TOTAL): dict(row._mapping) for row in await session.execute(_CALLS_SQL, params)
    }
    return {
        **_head(r),
        "rows": [_call_row(label, found.get(label)) for label in r.labels()],
        "total": _call_row(TOTAL, found.get(TOTAL)),
    }


async def agencies_report(session: AsyncSession, r: Range) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for row in await session.execute(_AGENCIES_SQL, _params(r)):
        item = {
            "period": row.p or TOTAL,
            "agency_code": row.code,
            "agency_name": row.name,
            "dispatches": int(row.dispatches),
            "acknowledged": int(row.acknowledged),
            "on_scene": int(row.on_scene),
            "ack_median_seconds": _round(row.ack_median_seconds),
            "ack_p90_seconds": _round(row.ack_p90_seconds),
            "on_scene_median_seconds": _round(row.on_scene_median_seconds),
            "on_scene_p90_seconds": _round(row.on_scene_p90_seconds),
        }
        (totals if row.p is None else rows).append(item)
    return {**_head(r), "rows": rows, "total": totals}


def _head(r: Range) -> dict[str, Any]:
    return {
        "period": r.period.value,
        "from": r.first.isoformat(),
        "to": r.last.isoformat() if r.period is Period.DAY else _label(r.last, r.period),
        "timezone": r.zone,
    }


def to_csv(report: dict[str, Any], columns: tuple[str, ...]) -> str:
    """The report's rows, then its total row(s), as CSV with a header line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    total = report["total"]
    for row in [*report["rows"], *(total if isinstance(total, list) else [total])]:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return out.getvalue()
