"""Every error leaves the API as JSON: ``{"error_id": ..., "message": ..., "details": ...}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import SiagaError

log = logging.getLogger(__name__)

_HTTP_IDS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "too-many-requests",
    503: "unavailable",
}


def error_body(error_id: str, message: str, details: object = None) -> dict[str, object]:
    return {"error_id": error_id, "message": message, "details": details or {}}


def install(app: FastAPI) -> None:
    @app.exception_handler(SiagaError)
    async def _siaga(_: Request, exc: SiagaError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.error_id, exc.message, exc.details),
            status_code=exc.status_code,
            headers={"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            error_body("validation-failed", "Data tidak valid / invalid input", {"fields": fields}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_id = _HTTP_IDS.get(exc.status_code, "http-error")
        return JSONResponse(
            error_body(error_id, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22 ("data exception": a NUL byte in a string, a number out of range, ...)
        # is bad input that got past validation: the client's mistake, not a server error.
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
        if sqlstate.startswith("22"):
            log.info("bad input refused by the database on %s: %s", request.url.path, sqlstate)
            return JSONResponse(
                error_body(
                    "invalid-input",
                    "Data tidak dapat diterima / input cannot be accepted",
                    {"sqlstate": sqlstate},
                ),
                status_code=422,
            )
        log.exception("database error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal-error", "Terjadi kesalahan internal / internal error"),
            status_code=500,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal-error", "Terjadi kesalahan internal / internal error"),
            status_code=500,
        )
