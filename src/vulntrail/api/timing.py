"""`Server-Timing: app;dur=<ms>` on every HTTP response: the server's own time for it.

Measured from the moment the request reaches the application to the moment the
response headers leave it, so clients and benchmarks can tell server time from
network and client time. A handler's own phases (the import endpoint sets
`receive`, `parse`, `store`) are kept; `app` is appended after them.
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "Server-Timing"


class ServerTiming:
    """Pure ASGI middleware: no body buffering, streaming responses pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
                headers = MutableHeaders(scope=message)
                current = headers.get(HEADER)
                headers[HEADER] = f"{current}, {entry}" if current else entry
            await send(message)

        await self.app(scope, receive, send_timed)
