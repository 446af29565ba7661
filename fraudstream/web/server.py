"""The HTTP side: one aiohttp application for the processor and for `fraudstream web`.

Routes: `/` the page, `/static/...` its script and style (shipped in the package, no CDN: the page
works in a closed network), `/api/state` the live view as JSON (the page polls it once a second),
`/metrics` Prometheus text format (where the caller has metrics), `/healthz` (liveness) and
`/readyz` (readiness: 503 with the reason until the processor has its partitions and state).

Polling rather than server-sent events: a page that asks once a second for a bounded document
costs the server the same at ten or ten thousand alerts a minute, survives proxies that buffer
streams, and a browser tab left open for a week holds no connection.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from fraudstream.web.metrics import CONTENT_TYPE_LATEST

STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def _static(name: str) -> bytes | None:
    if "/" in name or name.startswith(".") or not any(name.endswith(s) for s in STATIC_TYPES):
        return None
    path = resources.files("fraudstream.web").joinpath("static", name)
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


# The page loads its own script and style only, is never framed, and no response is sniffed
# into another type: what an analyst's browser may do with what the page shows (alerts quote
# memos that anyone who pays can write).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""Routes a probe reads without the token: they say nothing about payments."""
COOKIE = "fraudstream_token"
SNAPSHOT_S = 1.0
"""/api/state is built at most once a second, however many pages poll it."""


class WebServer:
    def __init__(
        self,
        *,
        state: Callable[[], dict[str, Any]],
        metrics: Callable[[], bytes] | None = None,
        ready: Callable[[], tuple[bool, str]] | None = None,
        token: str | None = None,
    ) -> None:
        self._state = state
        self._metrics = metrics
        self._ready = ready
        self._token = token or None
        self._snapshot: tuple[float, bytes] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        app = web.Application(middlewares=[_security_headers, self._authorise])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._file)
        app.router.add_get("/api/state", self._api_state)
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/readyz", self._readiness)
        self.app = app

    async def start(self, host: str, port: int) -> None:
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(
                exc.errno,
                f"cannot serve the live page on {host}:{port} ({exc.strerror}); fix: choose "
                "another port with --web-port (FRAUDSTREAM_WEB_PORT)",
            ) from None
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _authorise(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        token = self._token
        if token is None or request.path in OPEN_PATHS:
            return await handler(request)
        offered = request.headers.get("Authorization", "")
        given = offered.removeprefix("Bearer ").strip() if offered.startswith("Bearer ") else ""
        given = given or request.cookies.get(COOKIE, "")
        if hmac.compare_digest(given.encode(), token.encode()):
            return await handler(request)
        query = request.query.get("token", "")
        if request.path == "/" and query and hmac.compare_digest(query.encode(), token.encode()):
            # A browser's first visit: the token becomes a cookie and leaves the address bar.
            found = web.HTTPFound("/")
            found.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            raise found
        raise web.HTTPUnauthorized(
            text="a token is required: Authorization: Bearer <web_token>, or open /?token=...\n",
            headers={"WWW-Authenticate": 'Bearer realm="fraudstream"'},
        )

    async def _index(self, request: web.Request) -> web.Response:
        return self._serve("index.html")

    async def _file(self, request: web.Request) -> web.Response:
        return self._serve(request.match_info["name"])

    def _serve(self, name: str) -> web.Response:
        body = _static(name)
        if body is None:
            raise web.HTTPNotFound()
        suffix = name[name.rfind(".") :]
        return web.Response(
            body=body,
            content_type=STATIC_TYPES[suffix],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def _api_state(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        if self._snapshot is None or now - self._snapshot[0] >= SNAPSHOT_S:
            self._snapshot = (now, orjson.dumps(self._state()))
        return web.Response(
            body=self._snapshot[1],
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def _metrics_handler(self, request: web.Request) -> web.Response:
        if self._metrics is None:
            raise web.HTTPNotFound(
                text="no metrics here: scrape the processors (fraudstream run --web-port P)"
            )
        resp = web.Response(body=self._metrics())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def _health(self, request: web.Request) -> web.Response:
        """Liveness: the process answers (a worker whose loop died exits instead)."""
        return web.Response(text="ok\n")

    async def _readiness(self, request: web.Request) -> web.Response:
        """Readiness (for Kubernetes): 200 once it does its work, 503 with the reason before."""
        ok, why = self._ready() if self._ready is not None else (True, "serving")
        return web.Response(
            text=f"{'ready' if ok else 'not ready'}: {why}\n", status=200 if ok else 503
        )
