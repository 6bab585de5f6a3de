"""exchangelib's subscription services, with the affinity headers set per group instead of per
account, following how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server.md.

exchangelib (unmodified) sends X-AnchorMailbox = the impersonated mailbox and keeps one
X-BackEndOverrideCookie per Account, read from whichever pooled HTTP session answered. A group of
subscriptions needs one anchor and one cookie for all its members, and pooled sessions must not
carry one group's cookie into another group's requests. These subclasses therefore take an
``AffinityRoute`` (anchor + cookie), send exactly its headers, capture the cookie a response sets
into the route, and remove it from the session's cookie jar before the session returns to the pool.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exchangelib.errors import SessionPoolMinSizeReached
from exchangelib.services import (
    SubscribeToPush,
    SubscribeToStreaming,
    Unsubscribe,
)
from exchangelib.util import MNS

from listener.notificationxml import EwsNotification, read_notification
from mfr.ews.transport import ChunkedStreamingEvents

COOKIE = "X-BackEndOverrideCookie"


class _KeepPool:
    """A protocol that never shrinks its HTTP session pool.

    On ErrorServerBusy and ErrorExceededConnectionCount exchangelib 5.6 shrinks the pool, and
    ``Protocol.decrease_poolsize`` takes the pool lock and then, when no session is idle (hanging
    connections hold theirs), asks ``increase_poolsize`` for one, which takes the same lock: the
    thread deadlocks. Back-off is ``mfr.ews``'s job (FailFast), so shrinking is refused here and
    exchangelib raises the server's error at once.
    """

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    def decrease_poolsize(self) -> None:
        raise SessionPoolMinSizeReached("the listener keeps its session pool")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._protocol, name)


class _Polite:
    """Mixin: the service's protocol is wrapped in ``_KeepPool``."""

    protocol: Any

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.protocol = _KeepPool(self.protocol)


class PushSubscribe(_Polite, SubscribeToPush):  # type: ignore[misc]
    """Subscribe (push, all folders), without exchangelib's pool shrinking."""


@dataclass
class AffinityRoute:
    """Where a group's requests go: its anchor mailbox and the back-end cookie (once known)."""

    anchor: str
    cookie: str | None = None


class _Affine(_Polite):
    """Mixin for EWSAccountService subclasses: headers from, and cookie into, ``self.route``."""

    route: AffinityRoute

    def _extra_headers(self) -> dict[str, str]:
        headers: dict[str, str] = super()._extra_headers()  # type: ignore[misc]
        headers["X-AnchorMailbox"] = self.route.anchor
        headers["X-PreferServerAffinity"] = "true"
        headers.pop(COOKIE, None)
        if self.route.cookie:
            headers[COOKIE] = self.route.cookie
        return headers

    def _handle_response_cookies(self, session: Any) -> None:
        for cookie in list(session.cookies):
            if cookie.name == COOKIE:
                self.route.cookie = cookie.value
                session.cookies.clear(cookie.domain, cookie.path, cookie.name)


def backend_key(cookie: str | None) -> str:
    """The back-end a cookie routes to: Exchange's cookies read ``server~checksum``."""
    if not cookie:
        return "default"
    return cookie.partition("~")[0] or cookie


class GroupSubscribe(_Affine, SubscribeToStreaming):  # type: ignore[misc]
    """Subscribe (streaming, all folders) through a route; the route learns the cookie."""

    def __init__(self, route: AffinityRoute, **kwargs: Any) -> None:
        self.route = route
        super().__init__(**kwargs)


class GroupUnsubscribe(_Affine, Unsubscribe):  # type: ignore[misc]
    """Unsubscribe through the route the subscription was made on."""

    def __init__(self, route: AffinityRoute, **kwargs: Any) -> None:
        self.route = route
        super().__init__(**kwargs)


class GroupStream(_Affine, ChunkedStreamingEvents):
    """GetStreamingEvents for a group's subscriptions, with two additions:

    * ``error_ids``: the subscription ids of an error message (ErrorSubscriptionIds), which
      exchangelib only folds into the exception's text;
    * a read timeout of ``silence_timeout_s`` instead of ConnectionTimeout + 60 s, so a connection
      that stops sending (not even keep-alives) fails fast instead of hanging for half an hour.
    """

    def __init__(self, route: AffinityRoute, silence_timeout_s: float, **kwargs: Any) -> None:
        self.route = route
        self.silence_timeout_s = silence_timeout_s
        self.error_ids: list[str] = []
        self.answered = False  # the server answered: from here on, events may be in flight
        self.on_answer: Callable[[], None] | None = None  # told once the server answered
        super().__init__(**kwargs)

    def _get_response(self, payload: Any, api_version: Any) -> Any:
        response = super()._get_response(payload=payload, api_version=api_version)
        self.answered = True
        if self.on_answer is not None:
            self.on_answer()
        return response

    def abort(self) -> None:
        """Cut the connection from another thread (on shutdown): wakes a blocked read at once."""
        response = self._streaming_response
        sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def call(self, subscription_ids: list[str], connection_timeout: int) -> Any:
        notifications = super().call(
            subscription_ids=subscription_ids, connection_timeout=connection_timeout
        )
        self.timeout = self.silence_timeout_s
        return notifications

    def _elem_to_obj(self, elem: Any) -> EwsNotification:
        return read_notification(elem)  # not exchangelib's objects: see notificationxml.py

    def _get_element_container(self, message: Any, name: Any = None) -> Any:
        holder = message.find(f"{{{MNS}}}ErrorSubscriptionIds")
        if holder is not None:
            # The schema puts t:SubscriptionId here; exchangelib looks for m:, so read either.
            self.error_ids = [
                (child.text or "").strip()
                for child in holder
                if isinstance(child.tag, str) and child.tag.endswith("}SubscriptionId")
            ]
        return super()._get_element_container(message=message, name=name)
