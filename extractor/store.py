"""The extractor's memory of what it published: per mailbox, the latest state of every folder and
message (as the very records it put on the bus), their versions, and the folder tree.

It is a cache of the state topics, written only after the bus confirmed the records (so it is never
ahead of them); if the file is lost, taking partitions over refills it from the topics (``restore``,
called by ``ownership.py``). SQLite, one file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from extractor.hierarchy import FolderTree
from extractor.model import (
    FolderSnapshot,
    FolderState,
    MessageState,
    folder_from_datum,
    message_from_datum,
)
from mfr.codec import Codec

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    mailbox TEXT NOT NULL, message_key TEXT NOT NULL, item_id TEXT, folder_key TEXT,
    fingerprint TEXT, version INTEGER NOT NULL, record BLOB NOT NULL,
    PRIMARY KEY (mailbox, message_key));
CREATE INDEX IF NOT EXISTS messages_by_item ON messages (mailbox, item_id);
CREATE INDEX IF NOT EXISTS messages_by_fingerprint ON messages (mailbox, fingerprint);
CREATE INDEX IF NOT EXISTS messages_by_folder ON messages (mailbox, folder_key);
CREATE TABLE IF NOT EXISTS folders (
    mailbox TEXT NOT NULL, folder_key TEXT NOT NULL, gone INTEGER NOT NULL,
    version INTEGER NOT NULL, record BLOB NOT NULL, PRIMARY KEY (mailbox, folder_key));
CREATE TABLE IF NOT EXISTS trees (mailbox TEXT PRIMARY KEY, tree TEXT NOT NULL);
"""

Versioned = tuple[MessageState, int]


def _fingerprint(state: MessageState) -> str | None:
    if state.item is None or (state.item.search_key, state.item.internet_message_id) == (None,
                                                                                         None):
        return None
    return json.dumps(state.item.fingerprint)


class StateStore:
    """Latest published state per key, per mailbox; safe to share between worker threads."""

    def __init__(self, path: Path, codec: Codec) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._codec = codec
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _messages(self, where: str, *args: object) -> list[MessageState]:
        rows = self._rows(f"SELECT record FROM messages WHERE {where}", *args)  # noqa: S608
        return [message_from_datum(self._codec.decode(bytes(r[0])).datum) for r in rows]

    def view(self, mailbox: str) -> MailboxView:
        """The mailbox's published states, as the sync cycle looks them up."""
        return MailboxView(self, mailbox)

    def versions(self, mailbox: str, table: str, keys: Iterable[str]) -> dict[str, int]:
        """Current versions of some keys of ``table`` ("messages" or "folders")."""
        column = "message_key" if table == "messages" else "folder_key"
        found: dict[str, int] = {}
        wanted = list(dict.fromkeys(keys))
        # A page's 512 keys in a few queries, not one each (SQLite allows 999 parameters).
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update((str(key), int(version)) for key, version in self._rows(
                f"SELECT {column}, version FROM {table} "  # noqa: S608 - our own names
                f"WHERE mailbox = ? AND {column} IN ({marks})", mailbox, *chunk))
        return found

    def save(
        self,
        mailbox: str,
        messages: Iterable[tuple[MessageState, int, bytes]] = (),
        folders: Iterable[tuple[FolderState, int, bytes]] = (),
        tree: FolderTree | None = None,
    ) -> None:
        """Remember what was just published (state, version, record bytes), in one transaction."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(mailbox, s.message_key, s.item_id, s.folder_key, _fingerprint(s), v, r)
                     for s, v, r in messages])
                self._conn.executemany(
                    "INSERT OR REPLACE INTO folders VALUES (?, ?, ?, ?, ?)",
                    [(mailbox, s.folder_key, int(s.gone), v, r) for s, v, r in folders])
                if tree is not None:
                    self._conn.execute("INSERT OR REPLACE INTO trees VALUES (?, ?)",
                                       (mailbox, _tree_text(tree)))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def tree(self, mailbox: str) -> FolderTree | None:
        """The mailbox's folder tree with its published folder states; None if never synced."""
        rows = self._rows("SELECT tree FROM trees WHERE mailbox = ?", mailbox)
        if not rows:
            return None
        tree = _tree_from_text(str(rows[0][0]))
        for record, gone in self._rows(
                "SELECT record, gone FROM folders WHERE mailbox = ?", mailbox):
            datum = self._codec.decode(bytes(record)).datum
            state = folder_from_datum(datum, gone=bool(gone))
            tree.states[state.folder_key] = state
        return tree

    def _restore(self, value: bytes) -> None:
        decoded = self._codec.decode(value)
        datum, mailbox, version = decoded.datum, decoded.datum["mailbox"], decoded.datum["version"]
        if decoded.name.endswith("MessageState"):
            key = datum["message_key"]
            if self.versions(mailbox, "messages", [key]).get(key, -1) < version:
                self.save(mailbox, [(message_from_datum(datum), version, value)])
            return
        key = datum["folder_key"]
        if self.versions(mailbox, "folders", [key]).get(key, -1) < version:
            # A deleted folder may be trashed or gone; the hierarchy sync re-reads which.
            state = folder_from_datum(datum, gone=datum["deleted"])
            self.save(mailbox, folders=[(state, version, value)])

    def restore(self, values: Iterable[bytes]) -> int:
        """Apply state records read from the topics (the latest version per key wins)."""
        applied = 0
        for value in values:
            self._restore(value)
            applied += 1
        return applied

    def forget_tree(self, mailbox: str) -> None:
        """Drop the mailbox's folder tree: its next cycle lists the hierarchy from scratch."""
        with self._lock:
            self._conn.execute("DELETE FROM trees WHERE mailbox = ?", (mailbox,))

    def folder_states(self, mailbox: str, api: str) -> list[FolderState]:
        """The mailbox's folder states published through ``api`` (what a tree made from
        scratch starts from)."""
        found = []
        for record, gone in self._rows("SELECT record, gone FROM folders WHERE mailbox = ?",
                                       mailbox):
            datum = self._codec.decode(bytes(record)).datum
            if (datum.get("exchange_api") or "Ews") == api:
                found.append(folder_from_datum(datum, gone=bool(gone)))
        return found

    def counts(self, mailbox: str) -> tuple[int, int]:
        """Replicated folders and messages known for the mailbox (deleted ones included)."""
        folders = self._rows("SELECT count(*) FROM folders WHERE mailbox = ?", mailbox)
        messages = self._rows("SELECT count(*) FROM messages WHERE mailbox = ?", mailbox)
        return int(folders[0][0]), int(messages[0][0])


class MailboxView:
    """One mailbox's published message states (the sync cycle's ``Known``)."""

    def __init__(self, store: StateStore, mailbox: str) -> None:
        self._store = store
        self._mailbox = mailbox

    def by_item_id(self, item_id: str) -> MessageState | None:
        """The message whose current EWS id this is."""
        found = self._store._messages("mailbox = ? AND item_id = ?", self._mailbox, item_id)
        return found[0] if found else None

    def by_key(self, message_key: str) -> MessageState | None:
        """The message with this key."""
        found = self._store._messages("mailbox = ? AND message_key = ?", self._mailbox,
                                      message_key)
        return found[0] if found else None

    def by_fingerprint(self, fingerprint: tuple[str | None, str | None]) -> list[MessageState]:
        """Messages with this search key and Message-ID."""
        return self._store._messages("mailbox = ? AND fingerprint = ?", self._mailbox,
                                     json.dumps(list(fingerprint)))

    def in_folder(self, folder_key: str) -> list[MessageState]:
        """Messages whose current folder is this one."""
        return self._store._messages("mailbox = ? AND folder_key = ?", self._mailbox, folder_key)

    def placed_at(self, folder_key: str) -> list[MessageState]:
        """Messages the archive shows in this folder: those in it, and those deleted from it
        (no current folder, this one their last)."""
        found = self._store._messages("mailbox = ? AND (folder_key = ? OR folder_key IS NULL)",
                                      self._mailbox, folder_key)
        return [m for m in found if folder_key in (m.folder_key, m.last_known_folder_key)]


def _tree_text(tree: FolderTree) -> str:
    return json.dumps({
        "root_id": tree.root_id,
        "api": tree.api,
        "distinguished": tree.distinguished,
        "folders": [asdict(f) for f in tree.folders.values()],
    })


def _tree_from_text(text: str) -> FolderTree:
    data = json.loads(text)
    folders = [FolderSnapshot(**f) for f in data["folders"]]
    return FolderTree(data["root_id"], dict(data["distinguished"]),
                      {f.folder_id: f for f in folders}, api=data.get("api", "Ews"))
