"""What stands between the network and the archive's routes, for every request: security headers
on every answer (errors and crashes included), a size limit on request bodies, a same-origin
check on every state-changing request, and no 5xx for anything a client can send.

Written as plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one is skipped when a
route raises (Starlette's outermost error handler answers the 500 itself, without the headers),
and it cannot stop a body while it is still arriving.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit

import structlog
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Cache-Control": "no-store",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
INGEST_PREFIX = "/api/ingest/"  # bearer tokens, no cookies: its own limits, no origin check


class _BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a body grows past the limit: an HTTPException, so a route
    reading its body answers 413 instead of "cannot parse the body"."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the {limit}-byte limit")


class _NulInBodyError(HTTPException):
    """Raised from ``receive`` when a body carries a NUL (raw, %-encoded or JSON-escaped):
    PostgreSQL cannot compare or hold a text with one, and no form or API body needs it."""

    def __init__(self) -> None:
        super().__init__(400, "a NUL character in the request body")


_NUL_FORMS = (b"\x00", b"%00", b"\\u0000")


class Guards:
    """The archive app wrapped in headers, a body limit, the origin check and a crash barrier."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, allowed_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.lower().encode(), value.encode())
                    for name, value in SECURITY_HEADERS.items()
                    if name.lower().encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await _answer(send_with_headers, *refusal)
            return
        limited = receive if scope["path"].startswith(INGEST_PREFIX) else self._limit(receive)
        try:
            await self.app(scope, limited, send_with_headers)
        except (_BodyTooLargeError, _NulInBodyError) as exc:
            if not started:
                await _answer(send_with_headers, exc.status_code, exc.detail)
        except Exception as exc:  # noqa: BLE001 - the barrier: answer 500, log it
            # Answer first, then log (a plain traceback: rendering locals can take seconds).
            if not started:
                await _answer(send_with_headers, 500, "internal error; it has been logged")
            log.error(
                "request failed",
                path=scope["path"],
                method=scope["method"],
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            )

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        path: str = scope["path"]
        if path.startswith(INGEST_PREFIX):
            return None
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            # PostgreSQL cannot hold or compare a text with a NUL in it: no URL needs one.
            return 400, "a NUL character in the URL"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return 413, _BodyTooLargeError(self.max_body_bytes).detail
        if scope["method"] not in SAFE_METHODS and not self._same_origin(headers):
            return 403, "cross-origin request refused (Origin is not this site)"
        return None

    def _same_origin(self, headers: dict[str, str]) -> bool:
        """Browsers send Origin (or at least Referer) with every cross-site POST or DELETE; a
        request with neither comes from a program, which carries no victim's cookie."""
        claimed = headers.get("origin") or _origin_of(headers.get("referer"))
        if claimed is None:
            return True
        claimed = claimed.rstrip("/").lower()
        if claimed in self.allowed_origins:
            return True
        host = headers.get("host", "").lower()
        parts = urlsplit(claimed)
        return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host

    def _limit(self, receive: Receive) -> Receive:
        seen = 0

        tail = b""  # a NUL's %-encoding or JSON escape may straddle two chunks

        async def limited() -> Message:
            nonlocal seen, tail
            message = await receive()
            if message["type"] == "http.request":
                body: bytes = message.get("body", b"")
                seen += len(body)
                if seen > self.max_body_bytes:
                    raise _BodyTooLargeError(self.max_body_bytes)
                window = tail + body
                if any(form in window for form in _NUL_FORMS):
                    raise _NulInBodyError
                tail = window[-5:]
            return message

        return limited


def _origin_of(referer: str | None) -> str | None:
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
