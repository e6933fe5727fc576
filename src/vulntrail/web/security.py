"""Security headers on every response, and the browser's way in at `/`.

The Content-Security-Policy allows only this origin's own files: no inline script
or style, no plugins, no framing, forms post only here. FastAPI's interactive API
docs load their script from a CDN and inline, so those few paths keep their own
policy-free responses.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Pure ASGI middleware (no body buffering, streaming responses pass through)."""

    def __init__(self, app: ASGIApp, *, no_csp_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.no_csp_paths = no_csp_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/" and scope["method"] in ("GET", "HEAD") and _wants_html(scope):
            response = RedirectResponse("/products", status_code=303)
            await self._with_headers(response, scope, receive, send, path)
            return
        await self._with_headers(self.app, scope, receive, send, path)

    async def _with_headers(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, path: str
    ) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                if path not in self.no_csp_paths:
                    headers.setdefault("Content-Security-Policy", CSP)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await app(scope, receive, send_with_headers)


def _wants_html(scope: Scope) -> bool:
    accept = Headers(scope=scope).get("accept", "")
    return "text/html" in accept
