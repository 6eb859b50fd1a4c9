"""The browser consoles: static files and the single-page routes.

Everything here is code, style or fonts and needs no login; every piece of data the consoles show
comes through the authenticated API. Nothing is loaded from outside: Leaflet and the fonts are
installed from npm into ``web/node_modules`` at build time and served from here.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from core.errors import NotFound
from core.settings import Settings

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
_MODULES = WEB_DIR / "node_modules"

# URL prefix under /ui/static/ -> folder it serves. Only these folders are reachable.
STATIC_ROOTS: dict[str, Path] = {
    "app": WEB_DIR / "src",
    "leaflet": _MODULES / "leaflet" / "dist",
    "inter": _MODULES / "@fontsource" / "inter",
    "mono": _MODULES / "@fontsource" / "jetbrains-mono",
}
# The pages the single-page app answers; each serves the same shell.
PAGES = ("", "login", "console", "supervisor", "agency")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}

router = APIRouter(tags=["ui"], include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/config.json")
async def ui_config(request: Request) -> dict[str, object]:
    """What the consoles need before anyone logs in: no data, only presentation settings."""
    settings: Settings = request.app.state.settings
    return {
        "centre_name": settings.centre_name,
        "language": settings.language,
        "timezone": settings.timezone,
        "tile_url": settings.ui.tile_url,
        "tile_attribution": settings.ui.tile_attribution,
        "map": {
            "lat": settings.ui.map_latitude,
            "lon": settings.ui.map_longitude,
            "zoom": settings.ui.map_zoom,
        },
    }


@router.get("/ui/static/{root}/{path:path}")
async def static_file(root: str, path: str) -> FileResponse:
    base = STATIC_ROOTS.get(root)
    if base is None:
        raise NotFound("Berkas tidak ditemukan / file not found")
    target = (base / path).resolve()
    if not target.is_relative_to(base.resolve()) or not target.is_file():
        raise NotFound("Berkas tidak ditemukan / file not found")
    media_type = _TYPES.get(target.suffix)
    if media_type is None:
        raise NotFound("Berkas tidak ditemukan / file not found")
    # The app's own files change with each release; vendor files carry their version in the path.
    cache = "no-cache" if root == "app" else "public, max-age=86400"
    return FileResponse(target, media_type=media_type, headers={"Cache-Control": cache})


@router.get("/ui/{page}")
async def page(page: str) -> FileResponse:
    if page not in PAGES:
        raise NotFound("Halaman tidak ditemukan / page not found")
    return FileResponse(
        WEB_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/ui/")
async def index() -> FileResponse:
    return await page("")
