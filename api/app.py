"""The HTTP API: one place wires the engine, the routers and the error handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from api import errors
from api.routers import ROUTERS, health
from api.stream_hub import StreamHub
from core.db import make_engine, make_sessionmaker
from core.settings import Settings, get_settings
from services.aml import matcher as aml_matcher


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.require_secrets()
    if not settings.database_url:
        raise RuntimeError("SIAGA_DATABASE_URL is not set")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url or "")
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        hub = StreamHub(settings.database_url or "")
        app.state.stream_hub = hub
        hub.start()
        matcher = (
            asyncio.create_task(aml_matcher.run(app.state.sessionmaker, settings.aml), name="aml")
            if settings.aml.enabled
            else None
        )
        try:
            yield
        finally:
            if matcher:
                matcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await matcher
            await hub.stop()
            await engine.dispose()

    app = FastAPI(
        title="Siaga112 API",
        version="0.1.0",
        description="Tickets, agencies and dispatch for a regency's 112 emergency call centre.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> dict[str, object]:
        try:
            async with app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return await health.ready_details(app.state.engine)  # what else is down
        except Exception as exc:  # any failure means not ready
            from fastapi.responses import JSONResponse

            return JSONResponse(  # type: ignore[return-value]
                errors.error_body(
                    "database-unavailable", "database down", {"error": type(exc).__name__}
                ),
                status_code=503,
            )

    for router in ROUTERS:
        app.include_router(router)
    return app
