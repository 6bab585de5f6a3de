"""The listener's word on each mailbox for the admin page: MailboxStatus records of component
``Listener`` on the status topic, the same way the extractor reports its own.

What an admin must see per mailbox is whether its subscription holds: ``Pending`` while it is
being made (at start, or again after it was lost: the cause in ``last_error``), ``Live`` while it
does, ``Failing`` with the cause in one line when it cannot be made (Exchange unreachable: DNS,
connection, TLS; 401; 403 impersonation denied; in Graph mode a notification URL that failed the
validation handshake, or the application access policy), ``Throttled`` when Exchange kept asking
to back off, ``Removed`` once the mailbox left the selection. A record is written only
when that changes, not per notification, so a busy mailbox does not flood a compacted topic.
Status is advisory: a record the bus did not store is forgotten, and the next change writes it.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import structlog

from listener.events import now_utc
from listener.outbox import Outbox
from mfr.topics import normalise_mailbox

log = structlog.get_logger(__name__)

COMPONENT = "Listener"
MAX_ERROR_CHARS = 500


class StatusFeed:
    """Writes a mailbox's Listener status when its state or error changes."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._last: dict[str, tuple[str, str | None]] = {}
        self._lock = threading.Lock()

    def live(self, mailbox: str) -> None:
        """The mailbox's subscription holds."""
        self._report(mailbox, "Live", None)

    def pending(self, mailbox: str, reason: str | None) -> None:
        """The mailbox is being subscribed (at start, or again after ``reason``)."""
        self._report(mailbox, "Pending", reason)

    def failing(self, mailbox: str, error: str, *, throttled: bool = False) -> None:
        """The mailbox has no working subscription, because of ``error``."""
        self._report(mailbox, "Throttled" if throttled else "Failing", error[:MAX_ERROR_CHARS])

    def removed(self, mailbox: str) -> None:
        """The mailbox left the selection."""
        self._report(mailbox, "Removed", None)

    def _report(self, mailbox: str, state: str, error: str | None) -> None:
        mailbox = normalise_mailbox(mailbox)
        with self._lock:
            if self._last.get(mailbox) == (state, error):
                return
            self._last[mailbox] = (state, error)
        now = now_utc()
        datum = {
            "mailbox": mailbox,
            "component": COMPONENT,
            "state": state,
            "initial_sync_percent": None,
            "folders": None,
            "messages": None,
            "last_change_time": now,
            "lag_ms": None,
            "last_error": error,
            "last_error_time": now if error else None,
            "updated_time": now,
        }
        future = self._outbox.submit_status([datum])
        future.add_done_callback(lambda done: self._stored(mailbox, (state, error), done))

    def _stored(self, mailbox: str, reported: tuple[str, str | None], done: Future[None]) -> None:
        if done.cancelled() or done.exception() is None:
            return
        log.warning("listener status not stored", mailbox=mailbox, error=str(done.exception()))
        with self._lock:
            if self._last.get(mailbox) == reported:
                del self._last[mailbox]  # so the next report writes it again
