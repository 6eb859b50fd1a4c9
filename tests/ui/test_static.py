"""The consoles are served by Siaga112 itself: no CDN, no login for code, no file outside web/."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import ApiServer, api_client


async def test_scripts_styles_and_fonts_are_served_by_the_centre_without_login(
    api_server: ApiServer,
) -> None:
    async with api_client(api_server) as client:
        page = await client.get("/ui/console")
        leaflet = await client.get("/ui/static/leaflet/leaflet.js")
        leaflet_css = await client.get("/ui/static/leaflet/leaflet.css")
        font = await client.get("/ui/static/inter/files/inter-latin-400-normal.woff2")
        app = await client.get("/ui/static/app/main.js")
        config = await client.get("/ui/config.json")

    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text
    assert leaflet.status_code == 200 and "javascript" in leaflet.headers["content-type"]
    assert leaflet_css.status_code == 200
    assert font.status_code == 200 and font.headers["content-type"] == "font/woff2"
    assert app.status_code == 200
    assert config.json()["tile_url"] == api_server.settings.ui.tile_url
    assert config.json()["timezone"] == "Asia/Jakarta"


async def test_nothing_outside_the_web_folders_can_be_read(api_server: ApiServer) -> None:
    async with api_client(api_server) as client:
        for path in (
            "/ui/static/app/../../pyproject.toml",
            "/ui/static/app/%2e%2e/%2e%2e/core/settings.py",
            "/ui/static/leaflet/../package.json",
            "/ui/static/nowhere/x.js",
            "/ui/admin",
        ):
            response = await client.get(path, follow_redirects=True)
            assert response.status_code == 404, path
            assert response.json()["error_id"] == "not-found"


async def test_the_browser_loads_nothing_from_outside_the_centre(
    new_page: Any, api_server: ApiServer
) -> None:
    page = await new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    await page.goto("/ui/login")
    await page.wait_for_selector("#username")

    assert requested
    outside = [url for url in requested if not url.startswith(api_server.url)]
    assert outside == []
