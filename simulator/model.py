"""The data a simulated mailbox holds: folders, items, and what happened to deleted ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DeleteType(StrEnum):
    """EWS's DisposalType: how DeleteItem/DeleteFolder/EmptyFolder dispose of what they delete."""

    HARD_DELETE = "HardDelete"
    SOFT_DELETE = "SoftDelete"
    MOVE_TO_DELETED_ITEMS = "MoveToDeletedItems"


class Sensitivity(StrEnum):
    """An item's sensitivity, as EWS spells it."""

    NORMAL = "Normal"
    PERSONAL = "Personal"
    PRIVATE = "Private"
    CONFIDENTIAL = "Confidential"


class Importance(StrEnum):
    """An item's importance, as EWS spells it."""

    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"


class FlagStatus(StrEnum):
    """An item's follow-up flag, as EWS spells it."""

    NOT_FLAGGED = "NotFlagged"
    FLAGGED = "Flagged"
    COMPLETE = "Complete"


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox address: display name and SMTP address."""

    name: str
    email: str


# The folder element EWS uses for a folder class (anything else is a plain t:Folder).
FOLDER_ELEMENTS = {
    "IPF.Appointment": "CalendarFolder",
    "IPF.Contact": "ContactsFolder",
    "IPF.Task": "TasksFolder",
}

# (distinguished id, display name, folder class, parent's distinguished id) in creation order.
DISTINGUISHED_LAYOUT: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("root", "Root", None, None),
    ("msgfolderroot", "Top of Information Store", None, "root"),
    ("inbox", "Inbox", "IPF.Note", "msgfolderroot"),
    ("sentitems", "Sent Items", "IPF.Note", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "IPF.Note", "msgfolderroot"),
    ("drafts", "Drafts", "IPF.Note", "msgfolderroot"),
    ("junkemail", "Junk Email", "IPF.Note", "msgfolderroot"),
    ("outbox", "Outbox", "IPF.Note", "msgfolderroot"),
    ("archive", "Archive", "IPF.Note", "msgfolderroot"),
    ("conversationhistory", "Conversation History", "IPF.Note", "msgfolderroot"),
    ("calendar", "Calendar", "IPF.Appointment", "msgfolderroot"),
    ("contacts", "Contacts", "IPF.Contact", "msgfolderroot"),
    ("tasks", "Tasks", "IPF.Task", "msgfolderroot"),
    ("notes", "Notes", "IPF.StickyNote", "msgfolderroot"),
    ("journal", "Journal", "IPF.Journal", "msgfolderroot"),
    ("recoverableitemsroot", "Recoverable Items", None, "root"),
    ("recoverableitemsdeletions", "Deletions", None, "recoverableitemsroot"),
    ("recoverableitemspurges", "Purges", None, "recoverableitemsroot"),
    ("recoverableitemsversions", "Versions", None, "recoverableitemsroot"),
)
# A hidden search folder over every item; Exchange raises some events "from" it (see events.py).
ALL_ITEMS_NAME = "AllItems"


@dataclass(slots=True)
class Item:
    """A message (or other item) as the store holds it. ``serial`` changes when it moves;
    ``origin`` is the serial it was created with and never changes (the ground truth's identity)."""

    serial: int
    origin: int
    folder: int
    item_class: str = "IPM.Note"
    subject: str = ""
    sensitivity: Sensitivity = Sensitivity.NORMAL
    importance: Importance = Importance.NORMAL
    size: int = 1024
    received: datetime | None = None
    sent: datetime | None = None
    created: datetime | None = None
    modified: datetime | None = None
    categories: list[str] = field(default_factory=list)
    is_read: bool = False
    flag: FlagStatus = FlagStatus.NOT_FLAGGED
    has_attachments: bool = False
    is_draft: bool = False
    internet_message_id: str = ""
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    search_key: bytes = b""
    version: int = 0
    last_touch: int = 0
    last_content_touch: int = 0
    deleted_from: int | None = None


@dataclass(slots=True)
class Folder:
    """A folder. Its serial (and so its id) never changes, wherever it moves."""

    serial: int
    parent: int | None
    name: str
    folder_class: str | None
    distinguished: str | None = None
    search_folder: bool = False
    version: int = 0
    last_touch: int = 0
    items: dict[int, Item] = field(default_factory=dict)
    touch_log: list[tuple[int, int]] = field(default_factory=list)
    tombstones: dict[int, int] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)
    local_commit_time_max: datetime | None = None
    deleted_count_total: int = 0

    @property
    def element(self) -> str:
        """The EWS element naming this kind of folder."""
        if self.search_folder:
            return "SearchFolder"
        return FOLDER_ELEMENTS.get(self.folder_class or "", "Folder")

    def unread_count(self) -> int:
        """How many items in the folder are unread."""
        return sum(1 for item in self.items.values() if not item.is_read)


@dataclass(frozen=True, slots=True)
class Purged:
    """A hard-deleted item, kept for the ground truth: what it was and where it was last."""

    item: Item
    last_folder: int
    deleted_at: datetime
    how: str


@dataclass(frozen=True, slots=True)
class RemovedFolder:
    """A deleted folder, kept for the ground truth."""

    folder: Folder
    last_parent: int | None
    deleted_at: datetime
    how: str
