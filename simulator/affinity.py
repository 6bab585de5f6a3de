"""Which simulated back-end (Mailbox server) a request reaches.

Per how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server.md: with
X-PreferServerAffinity: true, a valid X-BackEndOverrideCookie routes to the server it names;
without one, X-AnchorMailbox routes to that mailbox's server, and the response sets the cookie.
Otherwise the request goes to the target mailbox's server. The cookie is accepted both as a cookie
(as the page shows) and as a header of that name (as exchangelib sends it).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from simulator.mailbox import Mailbox
from simulator.store import Store

COOKIE = "X-BackEndOverrideCookie"


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request went, and the cookie to set in the response (if any)."""

    backend: str
    set_cookie: str | None = None


def cookie_value(backend: str) -> str:
    """The X-BackEndOverrideCookie naming a back-end: server name ~ checksum, like Exchange's."""
    return f"{backend}~{zlib.crc32(backend.encode())}"


def _backend_of_cookie(value: str | None, store: Store) -> str | None:
    if not value:
        return None
    backend = value.partition("~")[0]
    return backend if backend in store.backends and cookie_value(backend) == value else None


def route(
    headers: Mapping[str, str], cookies: Mapping[str, str], store: Store, target: Mailbox | None
) -> Route:
    """The back-end for a request with these headers and cookies acting on ``target``."""
    prefer = headers.get("x-preferserveraffinity", "").strip().lower() == "true"
    anchor = (
        store.mailbox(headers.get("x-anchormailbox", ""))
        if headers.get("x-anchormailbox")
        else None
    )
    if prefer:
        pinned = _backend_of_cookie(cookies.get(COOKIE) or headers.get(COOKIE.lower()), store)
        if pinned is not None:
            return Route(pinned)
        if anchor is not None:
            return Route(anchor.backend, cookie_value(anchor.backend))
    if anchor is not None:
        return Route(anchor.backend)
    if target is not None:
        return Route(target.backend)
    return Route(store.backends[0])
