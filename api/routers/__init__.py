"""Every router the API serves. The UI's router comes last: it serves the consoles' pages."""

from fastapi import APIRouter

from api.routers import (
    agencies,
    agency_portal,
    aml,
    auth,
    callback_calls,
    callers,
    dispatch,
    meta,
    recordings,
    reports,
    stream,
    tickets,
    ui,
    users,
    wallboard,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    users.router,
    meta.router,
    tickets.router,
    tickets.audit_router,
    recordings.router,
    stream.router,
    agencies.router,
    dispatch.router,
    agency_portal.router,
    wallboard.router,
    callers.router,
    reports.router,
    callback_calls.router,
    callback_calls.worklist_router,
    aml.router,
    ui.router,
]
