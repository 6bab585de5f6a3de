"""One simulated mailbox: its folder tree, items, change sequence and event log.

The mailbox offers primitives (place an item in a folder, take it out, touch it, emit an event);
``actions.py`` composes them into user actions that raise the events Exchange raises. Every change
advances the mailbox's sequence number, which positions both sync states and event watermarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from simulator.clock import Clock
from simulator.events import Audience, Event, EventLog, EventType
from simulator.ids import IdKind, mint_change_key, mint_id
from simulator.model import (
    ALL_ITEMS_NAME,
    DISTINGUISHED_LAYOUT,
    Address,
    Folder,
    Item,
    Purged,
    RemovedFolder,
)

EVENT_RETENTION = timedelta(days=30)


class Mailbox:
    """A mailbox: folders by serial, an index of items, and the log of what happened."""

    def __init__(self, number: int, address: Address, backend: str, clock: Clock) -> None:
        self.number = number
        self.address = address
        self.backend = backend
        self.clock = clock
        self.folders: dict[int, Folder] = {}
        self.distinguished: dict[str, int] = {}
        self.item_index: dict[int, int] = {}
        # origin -> current serial of live items: Graph's immutable ids name items by origin.
        self.origin_index: dict[int, int] = {}
        # every serial an item ever had -> its origin, to name a gone item by its immutable id.
        self.serial_origin: dict[int, int] = {}
        self.purged: list[Purged] = []
        self.removed_folders: list[RemovedFolder] = []
        self.events = EventLog(EVENT_RETENTION)
        self.seq = 0
        self._serial = 0
        self._build_layout()

    @property
    def smtp(self) -> str:
        """The mailbox's primary SMTP address."""
        return self.address.email

    def _build_layout(self) -> None:
        for distinguished, name, folder_class, parent in DISTINGUISHED_LAYOUT:
            parent_serial = self.distinguished[parent] if parent else None
            folder = self.add_folder(parent_serial, name, folder_class, distinguished=distinguished)
            self.distinguished[distinguished] = folder.serial
        self.all_items = self.add_folder(self.distinguished["root"], ALL_ITEMS_NAME, None).serial
        self.folders[self.all_items].search_folder = True

    # --- numbering ---------------------------------------------------------------------------
    def next_serial(self) -> int:
        """A new serial for a folder or item (never reused)."""
        self._serial += 1
        return self._serial

    def tick(self) -> int:
        """Advance the change sequence; returns the new position."""
        self.seq += 1
        return self.seq

    def now(self) -> datetime:
        """The simulator's current time."""
        return self.clock.now()

    # --- ids ---------------------------------------------------------------------------------
    def folder_id(self, serial: int) -> str:
        """The EWS id of a folder."""
        return mint_id(IdKind.FOLDER, self.number, serial)

    def item_id(self, serial: int) -> str:
        """The EWS id an item has (or had) under this serial."""
        return mint_id(IdKind.ITEM, self.number, serial)

    def folder_change_key(self, folder: Folder) -> str:
        """The folder's current change key."""
        return mint_change_key(IdKind.FOLDER, folder.serial, folder.version)

    def item_change_key(self, item: Item) -> str:
        """The item's current change key."""
        return mint_change_key(IdKind.ITEM, item.serial, item.version)

    # --- lookups -----------------------------------------------------------------------------
    def folder_by_name(self, distinguished: str) -> Folder:
        """A distinguished folder (KeyError when the mailbox has none by that name)."""
        return self.folders[self.distinguished[distinguished]]

    def item(self, serial: int) -> Item | None:
        """A live item by its current serial."""
        folder = self.item_index.get(serial)
        return None if folder is None else self.folders[folder].items.get(serial)

    def item_by_origin(self, origin: int) -> Item | None:
        """A live item by the serial it was created with (its immutable identity)."""
        serial = self.origin_index.get(origin)
        return None if serial is None else self.item(serial)

    def items(self) -> Iterator[Item]:
        """Every live item, folder by folder."""
        for folder in self.folders.values():
            yield from folder.items.values()

    def is_under(self, serial: int, ancestor: int) -> bool:
        """Whether folder ``serial`` is ``ancestor`` or below it."""
        current: int | None = serial
        while current is not None:
            if current == ancestor:
                return True
            current = self.folders[current].parent
        return False

    def subtree(self, serial: int) -> list[Folder]:
        """A folder and every folder below it, parents before children."""
        out = [self.folders[serial]]
        for folder in out:
            out.extend(self.folders[child] for child in folder.children)
        return out

    def path(self, serial: int) -> str:
        """A folder's path from the root, like "/Top of Information Store/Inbox"."""
        names: list[str] = []
        current: int | None = serial
        while current is not None and current != self.distinguished["root"]:
            folder = self.folders[current]
            names.append(folder.name)
            current = folder.parent
        return "/" + "/".join(reversed(names))

    # --- primitives --------------------------------------------------------------------------
    def add_folder(
        self,
        parent: int | None,
        name: str,
        folder_class: str | None,
        distinguished: str | None = None,
    ) -> Folder:
        """Create a folder (no events; ``actions.create_folder`` raises them)."""
        seq = self.tick()
        folder = Folder(
            self.next_serial(), parent, name, folder_class, distinguished, last_touch=seq
        )
        self.folders[folder.serial] = folder
        if parent is not None:
            self.folders[parent].children.append(folder.serial)
        return folder

    def touch_folder(self, folder: Folder) -> None:
        """Record that a folder's own properties changed (new change key, hierarchy sync Update)."""
        folder.version += 1
        folder.last_touch = self.tick()

    def reparent(self, folder: Folder, parent: int) -> None:
        """Hang a folder under another parent."""
        if folder.parent is not None:
            self.folders[folder.parent].children.remove(folder.serial)
        folder.parent = parent
        self.folders[parent].children.append(folder.serial)

    def forget_folder(self, folder: Folder, how: str) -> None:
        """Remove a folder (and its record) from the tree; the ground truth remembers it."""
        if folder.parent is not None:
            self.folders[folder.parent].children.remove(folder.serial)
        del self.folders[folder.serial]
        self.removed_folders.append(RemovedFolder(folder, folder.parent, self.now(), how))
        self.tick()

    def place(self, item: Item, folder: Folder) -> None:
        """Put an item (with a fresh serial) into a folder."""
        seq = self.tick()
        item.folder = folder.serial
        item.last_touch = item.last_content_touch = seq
        folder.items[item.serial] = item
        folder.touch_log.append((seq, item.serial))
        folder.local_commit_time_max = self.now()
        self.item_index[item.serial] = folder.serial
        self.origin_index[item.origin] = item.serial
        self.serial_origin[item.serial] = item.origin

    def unplace(self, item: Item) -> Folder:
        """Take an item out of its folder; returns the folder it was in."""
        folder = self.folders[item.folder]
        seq = self.tick()
        del folder.items[item.serial]
        del self.item_index[item.serial]
        self.origin_index.pop(item.origin, None)
        folder.tombstones[item.serial] = seq
        folder.deleted_count_total += 1
        folder.local_commit_time_max = self.now()
        return folder

    def touch_item(self, item: Item, *, content: bool) -> None:
        """Record a change to an item; ``content`` is False when only its read state changed."""
        seq = self.tick()
        item.version += 1
        item.last_touch = seq
        if content:
            item.last_content_touch = seq
        item.modified = self.now()
        folder = self.folders[item.folder]
        folder.touch_log.append((seq, item.serial))
        folder.local_commit_time_max = self.now()

    def emit(
        self,
        type_: EventType,
        *,
        folder: Folder | None = None,
        item_serial: int | None = None,
        parent: int,
        old_item_serial: int | None = None,
        old_parent: int | None = None,
        audience: Audience = Audience.BOTH,
    ) -> Event:
        """Append an event about a folder (``folder``) or an item (``item_serial``)."""
        if folder is not None:
            object_id = self.folder_id(folder.serial)
            old_id = object_id if old_parent is not None else None
        else:
            assert item_serial is not None  # noqa: S101 - one of the two is always given
            object_id = self.item_id(item_serial)
            old_id = self.item_id(old_item_serial) if old_item_serial is not None else None
        unread = None
        if type_ is EventType.MODIFIED and folder is not None:
            unread = folder.unread_count()
        event = Event(
            seq=self.tick(),
            time=self.now(),
            type=type_,
            is_folder=folder is not None,
            object_id=object_id,
            parent_id=self.folder_id(parent),
            parent_serial=parent,
            old_id=old_id,
            old_parent_id=self.folder_id(old_parent) if old_parent is not None else None,
            old_parent_serial=old_parent,
            unread_count=unread,
            audience=audience,
            folder_serial=None if folder is None else folder.serial,
        )
        self.events.append(event)
        return event

    def folder_modified(self, serial: int) -> None:
        """A ModifiedEvent for a folder whose contents changed."""
        folder = self.folders[serial]
        parent = folder.parent if folder.parent is not None else serial
        self.emit(EventType.MODIFIED, folder=folder, parent=parent)
