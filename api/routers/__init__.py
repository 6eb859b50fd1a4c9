"""Every router the API serves; each area adds its own line."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
