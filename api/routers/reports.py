"""The centre's reports, as JSON or CSV (``Accept: text/csv`` or ``?format=csv``): supervisors and
admins only."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import Session, Supervisor
from core.timeutil import local, utcnow
from services.reports import service as reports

router = APIRouter(prefix="/reports", tags=["reports"])

PeriodQ = Annotated[Literal["day", "month"], Query()]
FormatQ = Annotated[Literal["json", "csv"] | None, Query()]


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def _respond(
    request: Request, fmt: str | None, data: dict[str, Any], columns: tuple[str, ...], name: str
) -> Response:
    if _wants_csv(request, fmt):
        filename = f"{name}-{data['period']}-{data['from']}-{data['to']}.csv"
        return Response(
            reports.to_csv(data, columns),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return JSONResponse(_plain(data))


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return data  # every value is already JSON: strings, numbers, None


def _range(period: str, first: date | None, last: date | None) -> reports.Range:
    return reports.make_range(period, first, last, local(utcnow()).date())


@router.get("/calls")
async def calls(
    request: Request,
    _: Supervisor,
    session: Session,
    period: PeriodQ = "day",
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    format: FormatQ = None,
) -> Response:
    data = await reports.calls_report(session, _range(period, from_, to))
    return _respond(request, format, data, reports.CALL_COLUMNS, "calls")


@router.get("/agencies")
async def agencies(
    request: Request,
    _: Supervisor,
    session: Session,
    period: PeriodQ = "day",
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    format: FormatQ = None,
) -> Response:
    data = await reports.agencies_report(session, _range(period, from_, to))
    return _respond(request, format, data, reports.AGENCY_COLUMNS, "agencies")
