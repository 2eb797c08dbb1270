"""/api/v1/docs: Swagger UI on /api/v1/openapi.json. Its assets come from the installed
swagger-ui-bundle-v2 package (no CDN, nothing fetched at run time); the page and its one script
are ours, so a strict Content-Security-Policy holds: scripts, styles and data from this origin
only."""

import functools
import mimetypes
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path
from werkzeug.wrappers import Request, Response

from gateway_http.edge import RouteSpec, route
from kernel.errors import NotFound

OWN_ASSETS = Path(__file__).resolve().parent.parent / "docs_assets"
# Swagger UI renders icons from data: URIs; everything else comes from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
ASSETS = {
    "swagger-ui.css": swagger_ui_path / "swagger-ui.css",
    "swagger-ui-bundle.js": swagger_ui_path / "swagger-ui-bundle.js",
    "favicon-32x32.png": swagger_ui_path / "favicon-32x32.png",
    "init.js": OWN_ASSETS / "init.js",
}
ASSET_NAMES = ", ".join(sorted(ASSETS))


@functools.cache
def read(path: Path) -> bytes:
    return path.read_bytes()


def _headers(cache_control: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache_control,
    }


class DocsRoutes:
    @route(
        "GET",
        "/api/v1/docs",
        RouteSpec(
            "This document in Swagger UI",
            "ops",
            authenticated=False,
            media_type="text/html",
            responses={200: "the Swagger UI page"},
        ),
    )
    def api_docs(self, request: Request) -> Response:
        return Response(
            read(OWN_ASSETS / "index.html"),
            content_type="text/html; charset=utf-8",
            headers=_headers("no-cache"),
        )

    @route(
        "GET",
        "/api/v1/docs/<asset_name>",
        RouteSpec(
            f"The Swagger UI page's assets: {ASSET_NAMES}",
            "ops",
            authenticated=False,
            media_type="application/octet-stream",
            responses={200: "the asset", 404: "no such asset"},
        ),
    )
    def api_docs_asset(self, request: Request, asset_name: str) -> Response:
        if asset_name not in ASSETS:
            raise NotFound(f"no such asset; there are {ASSET_NAMES}")
        content_type = mimetypes.guess_type(asset_name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        return Response(
            read(ASSETS[asset_name]),
            content_type=content_type,
            headers=_headers("public, max-age=3600"),
        )
