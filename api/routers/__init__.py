"""Every router the API serves; each area adds its own line."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []

from api.routers import ui, wallboard  # noqa: E402

ROUTERS += [wallboard.router, ui.router]
