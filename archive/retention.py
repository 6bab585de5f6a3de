"""The retention purge: metadata older than the retention period leaves the archive.

What ages from when (``cutoff`` = now - ``retention_days``):

* a deleted message: from its deletion (``deleted_time``; its observed time if unknown);
* a message still in Exchange: from its received date (``sort_time``: received, else sent, else
  created, else observed);
* a withdrawn message keeps no metadata; its key and version go once the withdrawal is older
  than the cutoff;
* a history version: once the next version of the same key was observed before the cutoff (it
  can no longer answer an "as it was at T" question within the retention period);
* a folder: only once deleted before the cutoff and no message is shown in it any more. Folders
  that exist in Exchange are never purged.

A purged message that is replayed from the bus later comes back and is purged again next run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection, Engine, Table, and_, delete, exists, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from archive.metrics import ArchiveMetrics
from archive.settings import ArchiveSettings
from archive.store.tables import folder_history, folders, message_history, messages

_DAY_MS = 86_400_000
log = structlog.get_logger("archive.retention")


@dataclass(frozen=True)
class Purged:
    """Rows one purge removed, per table."""

    messages: int
    message_history: int
    folders: int
    folder_history: int


def purge(engine: Engine, retention_days: int, now_ms: int | None = None) -> Purged:
    """Remove what is older than the retention period (see the module docstring)."""
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    cutoff = now_ms - retention_days * _DAY_MS
    m, mh, f, fh = messages, message_history, folders, folder_history
    with engine.begin() as conn:
        gone = conn.execute(
            delete(m).where(
                or_(
                    and_(
                        m.c.withdrawn, func.coalesce(m.c.withdrawn_time, m.c.observed_time) < cutoff
                    ),
                    and_(
                        ~m.c.withdrawn,
                        m.c.deleted,
                        func.coalesce(m.c.deleted_time, m.c.observed_time) < cutoff,
                    ),
                    and_(~m.c.withdrawn, ~m.c.deleted, m.c.sort_time < cutoff),
                )
            )
        ).rowcount
        history_gone = _drop_history(conn, mh, m, "message_ref", cutoff)
        folders_gone = conn.execute(
            delete(f).where(
                f.c.deleted,
                func.coalesce(f.c.deleted_time, f.c.observed_time) < cutoff,
                ~exists().where(
                    m.c.mailbox_id == f.c.mailbox_id, m.c.last_known_folder_key == f.c.folder_key
                ),
            )
        ).rowcount
        folder_history_gone = _drop_history(conn, fh, f, "folder_ref", cutoff)
    return Purged(gone, history_gone, folders_gone, folder_history_gone)


def _drop_history(conn: Connection, history: Table, current: Table, ref: str, cutoff: int) -> int:
    """Drop history rows whose key is gone (deleted explicitly, so the counts are right on
    either database) and versions superseded before the cutoff."""
    orphans = conn.execute(
        delete(history).where(~exists().where(current.c.id == history.c[ref]))
    ).rowcount
    later = history.alias("later")
    superseded = conn.execute(
        delete(history).where(
            exists().where(
                later.c[ref] == history.c[ref],
                later.c.version > history.c.version,
                later.c.valid_from < cutoff,
            )
        )
    ).rowcount
    return int(orphans) + int(superseded)


class PurgeScheduler:
    """Runs :func:`purge` at start and then every ``purge_interval_hours``, in a thread."""

    def __init__(self, engine: Engine, settings: ArchiveSettings, metrics: ArchiveMetrics) -> None:
        self._engine = engine
        self._settings = settings
        self._metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="retention-purge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for a purge under way)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        interval_s = self._settings.purge_interval_hours * 3600
        while not self._stop.is_set():
            try:
                result = purge(self._engine, self._settings.retention_days)
            except SQLAlchemyError as exc:
                log.warning("retention purge failed; will retry", error=str(exc))
            else:
                for table, count in vars(result).items():
                    self._metrics.purged.labels(table).inc(count)
                log.info("retention purge done", **vars(result))
            self._stop.wait(interval_s)


def messages_left(engine: Engine) -> int:
    """How many messages the archive holds (for tests and the CLI's report)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())
