"""The audit log: who signed in, who failed, what got locked, and every time an admin read a
mailbox that is not their own.

A JSON lines file, one event a line, appended and never rewritten: it outlives the database it
describes (a restore does not erase who looked), standard tools read it, and log shippers tail it.
The file is opened for each event, so a rotation by ``logrotate`` (move, then a new file) needs no
signal. Admins read the newest events in the UI (``/admin/audit``).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

TAIL_BYTES = 1024 * 1024  # the UI shows events from at most this much of the file's end


class AuditLog:
    """Appends events to one JSON lines file; reads back the newest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, event: str, *, user: str | None, client: str | None, **details: Any) -> None:
        """Append ``event`` (e.g. ``sign_in``) by ``user`` from address ``client``. A log that
        cannot be written is reported in the service log, never to the user it is about."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "user": user,
            "client": client,
            **{k: v for k, v in details.items() if v is not None},
        }
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
        except OSError as exc:
            log.error("audit log not written", path=str(self.path), error=str(exc), entry=entry)

    def newest(self, limit: int = 500) -> list[dict[str, Any]]:
        """The newest ``limit`` events, newest first (lines that are not JSON are skipped)."""
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, 2)
                handle.seek(max(0, size - TAIL_BYTES))
                raw = handle.read()
        except FileNotFoundError:
            return []
        lines = raw.decode("utf-8", errors="replace").splitlines()
        if len(raw) == TAIL_BYTES:
            lines = lines[1:]  # the first is probably cut
        events: list[dict[str, Any]] = []
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                events.append(entry)
            if len(events) >= limit:
                break
        return events
