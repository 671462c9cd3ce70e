"""``GET /status``: a page an operator opens in a browser, and ``/status.json`` for scripts.

The page is three files shipped in the package (``static/``): no build step, nothing fetched
from elsewhere, and a Content-Security-Policy that allows no inline script or style. With client
keys set, every route here takes the key as a Bearer token or as the password of HTTP Basic
(a browser cannot send a Bearer header when it opens a page), never in the URL.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import jsonio
from . import wire
from .clients import identify
from .status import snapshot

if TYPE_CHECKING:
    from .app import Gateway

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}
REALM = 'Basic realm="fallback-resolver gateway"'
_FILES = {
    "/status": ("status.html", "text/html; charset=utf-8"),
    "/status.js": ("status.js", "text/javascript; charset=utf-8"),
    "/status.css": ("status.css", "text/css; charset=utf-8"),
}


def routes(gateway: Gateway) -> list[Route]:
    """The status page's routes on ``gateway``."""

    def guarded(request: Request) -> Response | None:
        """The 401 for a request without a client key, or None when it may read."""
        authorization = request.headers.get("authorization")
        if not gateway.callers or identify(authorization, gateway.callers, basic=True):
            return None
        body = wire.error_body(
            "the status page needs the gateway's client key: as the password of HTTP Basic "
            "(any user name), or as 'Authorization: Bearer <key>'",
            "invalid_request_error",
            code="invalid_api_key",
        )
        headers = {**HEADERS, "www-authenticate": REALM}
        return Response(jsonio.dumps(body), 401, headers, media_type="application/json")

    async def page(request: Request) -> Response:
        refused = guarded(request)
        if refused is not None:
            return refused
        name, media_type = _FILES[request.url.path]
        return Response(_static(name), 200, HEADERS, media_type=media_type)

    async def data(request: Request) -> Response:
        refused = guarded(request)
        if refused is not None:
            return refused
        body = jsonio.dumps(await snapshot(gateway))
        return Response(body, 200, HEADERS, media_type="application/json")

    return [
        *(Route(path, page, methods=["GET"]) for path in _FILES),
        Route("/status.json", data, methods=["GET"]),
    ]


@functools.cache
def _static(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()
