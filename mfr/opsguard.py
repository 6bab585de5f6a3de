"""Who may read a service's ``/status`` and ``/metrics``: the one rule every HTTP service applies.

Those two pages name every replicated mailbox, its errors and the pipeline's load, and the
listener's port must be reachable by Exchange (push) and the archive's by users, so being able to
connect is no permission. The rule (``OpsAccess`` in ``mfr.settings``):

- probes (``/healthz``, ``/readyz``) are open: an orchestrator must reach them without secrets;
- with a token configured, ``/status`` and ``/metrics`` need ``Authorization: Bearer <token>``;
- without one, they answer loopback clients only (a Prometheus agent on the host, an admin's
  curl), and say how to open them up;
- with a separate ops address, that address serves the probes, ``/status`` and ``/metrics`` and
  nothing else, and the main address no longer serves ``/status`` and ``/metrics``.

``decide`` is the rule; ``OpsGuard`` applies it in front of an ASGI app (the publisher's
stdlib health server calls ``decide`` itself). It wraps the app from outside, so the app's own
routes and tests stay as they are.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from mfr.settings import OpsAccess

PROBES = frozenset({"/healthz", "/readyz"})
GUARDED = frozenset({"/status", "/metrics"})
Role = Literal["main", "ops"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """An answer given instead of the page: HTTP status and a one-line reason."""

    status: int
    detail: str

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Headers of the refusal (a bearer challenge for 401)."""
        extra = [("WWW-Authenticate", 'Bearer realm="mfr"')] if self.status == 401 else []
        return [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *extra,
        ]

    def body(self) -> bytes:
        """The JSON body."""
        return json.dumps({"detail": self.detail}).encode()


def decide(
    access: OpsAccess, role: Role, path: str, client_host: str | None, authorization: str | None
) -> Refusal | None:
    """None when the request may go on to the app; otherwise how to refuse it."""
    if role == "ops" and path not in PROBES | GUARDED:
        return Refusal(404, "not found (this address serves /healthz, /readyz, /status, /metrics)")
    if path not in GUARDED:
        return None
    if role == "main" and access.separate:
        return Refusal(404, f"not found ({path} is served on the ops address)")
    return _check_caller(access, role, path, client_host, authorization)


def _check_caller(
    access: OpsAccess, role: Role, path: str, client_host: str | None, authorization: str | None
) -> Refusal | None:
    if access.token is not None:
        if _bearer_matches(authorization, access.token.get_secret_value()):
            return None
        return Refusal(401, f"{path} needs the ops token as 'Authorization: Bearer <token>'")
    if role == "ops" or _is_loopback(client_host):
        return None
    return Refusal(
        403,
        f"{path} is answered to loopback clients only; configure an ops token or an ops address "
        "to read it from elsewhere",
    )


class OpsGuard:
    """ASGI middleware applying ``decide`` to ``app`` served on a ``role`` address."""

    def __init__(self, app: ASGIApp, access: OpsAccess, role: Role = "main") -> None:
        self.app = app
        self.access = access
        self.role = role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        authorization = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"authorization"),
            None,
        )
        refusal = decide(
            self.access, self.role, scope["path"], client[0] if client else None, authorization
        )
        if refusal is None:
            await self.app(scope, receive, send)
            return
        body = refusal.body()
        headers = [(k.lower().encode(), v.encode()) for k, v in refusal.headers]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _bearer_matches(authorization: str | None, token: str) -> bool:
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def _is_loopback(host: str | None) -> bool:
    try:
        address = ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return False  # a Unix socket or an unknown peer is not assumed local
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
