"""What the archive should hold for a mailbox, derived from the simulator's ground truth, and
every way the archive differs from it.

The rules are MISSION.md's. A mail folder (IPF.Note, below Top of Information Store) is shown
where it is, or — once deleted — marked deleted where the user last had it. A mail message
(IPM.Note or a Mimecast stub, neither Personal nor Private) is shown live in its folder with its
metadata, or — once deleted — marked deleted at the folder it was deleted from. Whatever lies in
Deleted Items, or in a folder moved there, counts as deleted. Messages are matched by
PR_SEARCH_KEY, which a move keeps and a copy does not.

What the truth cannot say — where a folder sat before it was moved into Deleted Items — comes
from the :class:`Journal` the random user keeps.

Fed through Graph, the archive's folder keys are Graph folder ids: the simulator's EWS ids in
URL-safe base64. Keys are read back through ``to_ews``, which leaves EWS ids as they are (they
never hold ``-`` or ``_``), so one oracle judges both sources.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from archive.store.tables import folders, mailboxes, messages
from simulator.graph.ids import to_ews

MAIL_CLASSES = {"ipm.note", "ipm.note.mimecaststub"}
WITHHELD = {"Personal", "Private"}
# Compared on every live message: (archive column, ground-truth field).
LIVE_FIELDS = (("subject", "subject"), ("is_read", "is_read"), ("flag_status", "flag"),
               ("categories", "categories"), ("importance", "importance"),
               ("sensitivity", "sensitivity"), ("item_class", "item_class"),
               ("internet_message_id", "internet_message_id"), ("sender_address", "sender"),
               ("datetime_received", "received"), ("size", "size"),
               ("has_attachments", "has_attachments"))
# A deleted message's metadata may have changed where the archive could no longer see it
# (the dumpster); what never changes is compared.
DELETED_FIELDS = (("subject", "subject"), ("item_class", "item_class"),
                  ("internet_message_id", "internet_message_id"))


@dataclass
class Journal:
    """What the random user did that the ground truth does not keep."""

    trashed_from: dict[tuple[str, str], str] = field(default_factory=dict)  # folder -> parent


@dataclass(frozen=True)
class ExpectedFolder:
    """A folder as the archive should show it."""

    name: str
    parent_key: str | None
    deleted: bool


@dataclass(frozen=True)
class ExpectedMessage:
    """A message as the archive should show it: where, whether deleted, and its metadata."""

    search_key: str
    folder_key: str  # live: its folder; deleted: its last known folder
    deleted: bool
    fields: dict[str, Any]


def replicable(item: dict[str, Any]) -> bool:
    """Whether the item is a mail message the archive may show."""
    return (item["item_class"] or "").lower() in MAIL_CLASSES and \
        item["sensitivity"] not in WITHHELD


class Truth:
    """One mailbox's ground truth, with the questions the oracle and the random user ask."""

    def __init__(self, truth: dict[str, Any], journal: Journal) -> None:
        self.smtp: str = truth["mailbox"]
        self.raw = truth
        self.journal = journal
        self.folders = {f["id"]: f for f in truth["folders"]}
        self.live_folders = {i: f for i, f in self.folders.items() if f["deleted"] is None}
        by_name = {f.get("distinguished"): i for i, f in self.live_folders.items()}
        self.ipm, self.trash = by_name["msgfolderroot"], by_name["deleteditems"]

    def is_mail_folder(self, folder_id: str) -> bool:
        """A replicated folder, live or removed."""
        folder = self.folders.get(folder_id)
        if folder is None or folder["folder_class"] != "IPF.Note":
            return False
        return folder["deleted"] is not None or bool(folder.get("in_ipm_subtree"))

    def in_trash(self, folder_id: str) -> bool:
        """Whether a live folder is Deleted Items or lies beneath it."""
        current: str | None = folder_id
        while current is not None and current in self.live_folders:
            if current == self.trash:
                return True
            current = self.live_folders[current]["parent_id"]
        return False

    def usable(self, folder_id: str) -> bool:
        """A live mail folder outside Deleted Items: where messages are shown live."""
        return folder_id in self.live_folders and self.is_mail_folder(folder_id) and \
            not self.in_trash(folder_id)

    def _parent_key(self, parent: str | None) -> str | None:
        if parent is None or parent == self.ipm or not self.is_mail_folder(parent):
            return None
        return parent

    def expected_folders(self) -> dict[str, ExpectedFolder]:
        """Every mail folder the archive should show, live or deleted."""
        expected = {}
        for folder_id, folder in self.folders.items():
            if not self.is_mail_folder(folder_id):
                continue
            deleted = folder["deleted"] is not None or (
                folder_id != self.trash and self.in_trash(folder_id))
            parent = self.journal.trashed_from.get((self.smtp, folder_id), folder["parent_id"]) \
                if deleted else folder["parent_id"]
            expected[folder_id] = ExpectedFolder(folder["name"], self._parent_key(parent), deleted)
        return expected

    def expected_messages(self) -> dict[str, ExpectedMessage]:
        """Every message the archive should show, live or deleted, by search key."""
        expected = {}
        for item in self.raw["items"]:
            if not replicable(item):
                continue
            where = self._where(item)
            if where is None:
                continue
            folder_key, deleted = where
            names = DELETED_FIELDS if deleted else LIVE_FIELDS
            expected[item["search_key"]] = ExpectedMessage(
                item["search_key"], folder_key, deleted,
                {ours: _as_archived(theirs, item[theirs]) for ours, theirs in names})
        return expected

    def _where(self, item: dict[str, Any]) -> tuple[str, bool] | None:
        if item["deleted"] is not None:
            return item["deleted"]["from_folder_id"], True
        folder = item["folder_id"]
        if not self.is_mail_folder(folder):
            return None
        return folder, self.in_trash(folder)


def _as_archived(name: str, value: Any) -> Any:
    """A ground-truth value in the form the archive stores it."""
    if name == "sender":
        return None if value is None else value["email"]
    if name == "received":
        return None if value is None else int(
            datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    return value


@dataclass
class ArchiveView:
    """The archive's current rows for a set of mailboxes."""

    folders: dict[str, dict[str, dict[str, Any]]]  # mailbox -> folder key -> row
    messages: dict[str, list[dict[str, Any]]]  # mailbox -> rows

    @classmethod
    def read(cls, engine: Engine) -> ArchiveView:
        """Read every folder and message row."""
        folder_rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        message_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with engine.connect() as conn:
            for row in conn.execute(select(mailboxes.c.address, folders).join(
                    mailboxes, mailboxes.c.id == folders.c.mailbox_id)):
                datum = _ews_keys(dict(row._mapping), "folder_key", "parent_folder_key")
                folder_rows[row.address][datum["folder_key"]] = datum
            for row in conn.execute(select(mailboxes.c.address, messages).join(
                    mailboxes, mailboxes.c.id == messages.c.mailbox_id)):
                datum = _ews_keys(dict(row._mapping), "folder_key", "last_known_folder_key")
                datum["categories"] = json.loads(datum["categories"] or "[]")
                message_rows[row.address].append(datum)
        return cls(folder_rows, message_rows)

    def shown(self, smtp: str) -> dict[str, list[dict[str, Any]]]:
        """The mailbox's visible (not withdrawn) message rows, by search key."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.messages.get(smtp, []):
            if not row["withdrawn"]:
                found[row["search_key"]].append(row)
        return found

    def folder(self, smtp: str, folder_key: str) -> ExpectedFolder | None:
        """A folder row, in the oracle's terms."""
        row = self.folders.get(smtp, {}).get(folder_key)
        if row is None:
            return None
        return ExpectedFolder(row["display_name"], row["parent_folder_key"], bool(row["deleted"]))


def _ews_keys(row: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        if row.get(name) is not None:
            row[name] = to_ews(row[name])
    return row


@dataclass
class Verdict:
    """How the archive compares with the truth, over every mailbox."""

    messages_compared: int = 0
    folders_compared: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """No message or folder lost, duplicated or wrong."""
        return not (self.lost or self.duplicated or self.wrong)

    def summary(self) -> str:
        """The counts, and the first problems of each kind."""
        lines = [f"messages compared {self.messages_compared}, folders compared "
                 f"{self.folders_compared}, lost {len(self.lost)}, duplicated "
                 f"{len(self.duplicated)}, wrong {len(self.wrong)}"]
        for kind in ("lost", "duplicated", "wrong"):
            lines += [f"  {kind}: {p}" for p in getattr(self, kind)[:15]]
        return "\n".join(lines)


def compare(truths: list[Truth], view: ArchiveView) -> Verdict:
    """Every difference between the archive and the ground truth of these mailboxes."""
    verdict = Verdict()
    for truth in truths:
        _compare_folders(truth, view, verdict)
        _compare_messages(truth, view, verdict)
    return verdict


def _compare_folders(truth: Truth, view: ArchiveView, verdict: Verdict) -> None:
    expected = truth.expected_folders()
    verdict.folders_compared += len(expected)
    for folder_id, want in expected.items():
        have = view.folder(truth.smtp, folder_id)
        label = f"{truth.smtp} folder {want.name!r}"
        if have is None:
            verdict.lost.append(f"{label} missing")
        elif have != want:
            verdict.wrong.append(f"{label}: archive {have}, Exchange {want}")
    for key, row in view.folders.get(truth.smtp, {}).items():
        if key not in expected:
            verdict.wrong.append(f"{truth.smtp} folder {row['display_name']!r} is not a mail "
                                 "folder of this mailbox")


def _compare_messages(truth: Truth, view: ArchiveView, verdict: Verdict) -> None:
    expected = truth.expected_messages()
    shown = view.shown(truth.smtp)
    verdict.messages_compared += len(expected)
    for key, want in expected.items():
        rows = shown.get(key, [])
        label = f"{truth.smtp} {'deleted' if want.deleted else 'live'} message " \
                f"{want.fields['subject']!r}"
        if not rows:
            verdict.lost.append(f"{label} missing")
        elif len(rows) > 1:
            verdict.duplicated.append(f"{label} shown {len(rows)} times")
        else:
            verdict.wrong += [f"{label}: {p}" for p in _differences(want, rows[0])]
    for key, rows in shown.items():
        if key not in expected:
            verdict.wrong += [f"{truth.smtp} message {r['subject']!r} shown, but Exchange has "
                              "no such replicable message" for r in rows]
    for row in truth_withdrawn_rows(view, truth.smtp):
        if row["subject"] is not None or row["sender_address"] is not None:
            verdict.wrong.append(f"{truth.smtp} withdrawn message {row['message_key']} still "
                                 "carries metadata")
    keys = Counter(r["message_key"] for r in view.messages.get(truth.smtp, []))
    verdict.duplicated += [f"{truth.smtp} key {k} stored {n} times" for k, n in keys.items()
                           if n > 1]


def truth_withdrawn_rows(view: ArchiveView, smtp: str) -> list[dict[str, Any]]:
    """The mailbox's withdrawn rows."""
    return [r for r in view.messages.get(smtp, []) if r["withdrawn"]]


def _differences(want: ExpectedMessage, row: dict[str, Any]) -> list[str]:
    found = []
    if bool(row["deleted"]) != want.deleted:
        found.append(f"deleted {bool(row['deleted'])}, Exchange {want.deleted}")
    where = row["last_known_folder_key"] if want.deleted else row["folder_key"]
    if where != want.folder_key:
        found.append(f"in folder {where}, Exchange {want.folder_key}")
    if not want.deleted and row["last_known_folder_key"] != row["folder_key"]:
        found.append("a live message's last known folder is not its folder")
    found += [f"{name} {row[name]!r}, Exchange {value!r}" for name, value in want.fields.items()
              if row[name] != value]
    return found
