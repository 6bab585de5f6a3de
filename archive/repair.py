"""Repairing drift, the archive's part: the counts the extractor's drift check compares with
Exchange's, the checks' findings for the admin page, and the admins' resync requests.

The archive never talks to Exchange or to the extractor: it answers the check's count requests
and keeps what each check reported (over the ingest API, with an ingest token), and it puts an
admin's resync request on the bus (``mfr.resync``), where the extractor that owns the mailbox
picks it up. The findings are kept in memory, the newest per mailbox: the next check (hourly by
default) brings them back after a restart, and the extractor's ``/metrics`` keeps the tally.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, false, func, select

from archive.store.tables import folders, mailboxes, messages

# (mailbox, folder key or None for the whole mailbox, reason): puts a resync request on the bus
Resync = Callable[[str, str | None, str], None]


def folder_counts(conn: Connection, address: str) -> dict[str, int]:
    """Messages shown per folder of a mailbox: those whose current folder it is, live or
    deleted into it (Deleted Items), not withdrawn; what Exchange's count of the replicated
    messages in that folder should equal. A folder deleted into Deleted Items counts too: it is
    still in Exchange, and so are its messages (shown deleted with it)."""
    m, f = messages, folders
    query = (
        select(f.c.folder_key, func.count(m.c.id))
        .select_from(f.join(mailboxes, mailboxes.c.id == f.c.mailbox_id).outerjoin(
            m, and_(m.c.mailbox_id == f.c.mailbox_id, m.c.folder_key == f.c.folder_key,
                    m.c.withdrawn == false())))
        .where(mailboxes.c.address == address)
        .group_by(f.c.folder_key)
    )
    return {str(key): int(count) for key, count in conn.execute(query)}


def folder_names(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    """(folder key, name) of every live folder, per mailbox address (the resync buttons)."""
    query = (
        select(mailboxes.c.address, folders.c.folder_key, folders.c.display_name)
        .join(mailboxes, mailboxes.c.id == folders.c.mailbox_id)
        .where(folders.c.deleted == false())
        .order_by(mailboxes.c.address, folders.c.display_name)
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for address, key, name in conn.execute(query):
        found.setdefault(address, []).append((key, name))
    return found


@dataclass(frozen=True)
class DriftFinding:
    """One folder a check found different."""

    folder_key: str
    exchange: int
    archive: int


@dataclass(frozen=True)
class DriftReport:
    """What the last check of a mailbox found."""

    mailbox: str
    checked_folders: int
    differing: tuple[DriftFinding, ...]
    checked_at: float  # epoch seconds


@dataclass
class DriftBoard:
    """The newest drift report per mailbox, and how many folders drifted since the start."""

    _reports: dict[str, DriftReport] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, mailbox: str, checked: int, differing: list[DriftFinding]) -> None:
        """Keep a check's report (replacing that mailbox's previous one)."""
        report = DriftReport(mailbox, checked, tuple(differing), time.time())
        with self._lock:
            self._reports[mailbox] = report

    def reports(self) -> list[DriftReport]:
        """The newest report of each mailbox checked, by address."""
        with self._lock:
            return [self._reports[k] for k in sorted(self._reports)]
