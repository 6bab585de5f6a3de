"""A seeded random user: every action MISSION.md names, on many mailboxes, through the
simulator's control interface.

New mail, filing, non-mail items; read, flag, categories, importance and sensitivity changes;
moves, restores and copies; every delete type, emptying Deleted Items; folders created, renamed,
moved, deleted every way and restored.

One rule keeps the ground truth a fair oracle: a message (or folder) is deleted only once the
archive has seen it where it is now. Exchange's sync reports nothing about an item created and
deleted between two syncs, nor where a message went before it vanished, so without the rule the
truth would ask the archive to know what nobody could tell it. Moves, copies and changes are free:
many happen while the pipeline is down.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from simulator.control import Control
from simulator.errors import SimulatorError
from simulator.generator import Generator
from tests.convergence.oracle import ArchiveView, Journal, Truth, replicable

WORDS = ("Budget", "Travel", "Vendors", "Board", "Hiring", "Legal", "Ops", "Press", "Q3", "Misc")
NON_MAIL = (("calendar", "IPM.Appointment"), ("contacts", "IPM.Contact"), ("tasks", "IPM.Task"))
DELETE_TYPES = ("MoveToDeletedItems", "SoftDelete", "HardDelete")
# (action, weight)
ACTIONS = (
    ("new mail", 18), ("file a message", 4), ("non-mail item", 3), ("read", 10), ("flag", 5),
    ("categories", 3), ("importance", 2), ("sensitivity", 4), ("move", 10), ("restore", 3),
    ("copy", 4), ("delete", 12), ("empty deleted items", 1), ("create folder", 3),
    ("rename folder", 2), ("move folder", 2), ("delete folder", 2), ("restore folder", 1),
)  # fmt: skip


class RandomUser:
    """Applies random actions to random mailboxes; ``step`` does one."""

    def __init__(self, control: Control, mailboxes: list[str], seed: int,
                 observe: Callable[[], ArchiveView], journal: Journal) -> None:
        self.control = control
        self.mailboxes = mailboxes
        self.random = random.Random(seed)
        self.generator = Generator(control, seed + 1)
        self.observe = observe
        self.journal = journal
        self.done: Counter[str] = Counter()
        self.refused = 0  # an action the simulator refused, as Exchange would have
        self._names = 0

    def step(self) -> str:
        """Do one action in a random mailbox; returns what was done ("" when nothing was)."""
        smtp = self.random.choice(self.mailboxes)
        truth = Truth(self.control.ground_truth(smtp), self.journal)
        names = [a for a, _ in ACTIONS]
        action = self.random.choices(names, weights=[w for _, w in ACTIONS])[0]
        try:
            done = getattr(self, "_" + action.replace(" ", "_").replace("-", "_"))(truth)
        except SimulatorError:
            self.refused += 1
            return ""
        if done:
            self.done[action] += 1
        return action if done else ""

    @property
    def actions(self) -> int:
        """How many actions were done."""
        return sum(self.done.values())

    # --- what to act on ---------------------------------------------------------------------
    def _items(self, truth: Truth, where: Callable[[str], bool]) -> list[dict[str, Any]]:
        return [i for i in truth.raw["items"]
                if i["deleted"] is None and i["folder_id"] in truth.live_folders
                and where(i["folder_id"])]

    def _usable_folders(self, truth: Truth) -> list[str]:
        return sorted(f for f in truth.live_folders if truth.usable(f))

    def _user_folders(self, truth: Truth, where: Callable[[str], bool]) -> list[str]:
        return sorted(f for f, v in truth.live_folders.items()
                      if v["distinguished"] is None and truth.is_mail_folder(f) and where(f))

    def _subtree(self, truth: Truth, folder_id: str) -> list[str]:
        found, todo = [], [folder_id]
        while todo:
            current = todo.pop()
            found.append(current)
            todo += [f for f, v in truth.live_folders.items() if v["parent_id"] == current]
        return found

    def _seen(self, truth: Truth, item: dict[str, Any], view: ArchiveView) -> bool:
        """Whether the archive shows the item as it is now: where it is, or not at all."""
        rows = view.shown(truth.smtp).get(item["search_key"], [])
        if not replicable(item):
            return not rows
        return len(rows) == 1 and rows[0]["folder_key"] == item["folder_id"]

    def _folders_seen(self, truth: Truth, folder_ids: list[str], view: ArchiveView) -> bool:
        expected = truth.expected_folders()
        return all(view.folder(truth.smtp, f) == expected[f] for f in folder_ids
                   if f in expected)

    def _pick(self, choices: list[Any]) -> Any:
        return self.random.choice(choices) if choices else None

    def _new_name(self) -> str:
        self._names += 1
        return f"{self.random.choice(WORDS)} {self._names}"

    # --- messages ---------------------------------------------------------------------------
    def _new_mail(self, truth: Truth) -> bool:
        self.control.create_item(truth.smtp, "inbox", **self.generator.message())
        return True

    def _file_a_message(self, truth: Truth) -> bool:
        folder = self._pick(self._usable_folders(truth))
        self.control.create_item(truth.smtp, folder, new_mail=False, **self.generator.message())
        return True

    def _non_mail_item(self, truth: Truth) -> bool:
        folder, item_class = self.random.choice(NON_MAIL)
        fields = {**self.generator.message(), "item_class": item_class}
        self.control.create_item(truth.smtp, folder, new_mail=False, **fields)
        return True

    def _change(self, truth: Truth, **changes: Any) -> bool:
        item = self._pick(self._items(truth, truth.is_mail_folder))
        if item is None:
            return False
        self.control.update_item(truth.smtp, item["id"], **changes)
        return True

    def _read(self, truth: Truth) -> bool:
        return self._change(truth, is_read=self.random.random() < 0.7)

    def _flag(self, truth: Truth) -> bool:
        return self._change(truth, flag=self.random.choice(["Flagged", "Complete",
                                                            "NotFlagged"]))

    def _categories(self, truth: Truth) -> bool:
        return self._change(truth, categories=self.random.sample(
            ["Red category", "Customer", "Follow up"], k=self.random.randint(0, 2)))

    def _importance(self, truth: Truth) -> bool:
        return self._change(truth, importance=self.random.choice(["Low", "Normal", "High"]))

    def _sensitivity(self, truth: Truth) -> bool:
        # Only outside Deleted Items: a message made Normal there was never seen where it was
        # deleted from, so nobody could say its last known folder.
        item = self._pick(self._items(truth, truth.usable))
        if item is None:
            return False
        value = self.random.choice(["Normal", "Normal", "Private", "Personal", "Confidential"])
        self.control.update_item(truth.smtp, item["id"], sensitivity=value)
        return True

    def _move(self, truth: Truth) -> bool:
        item = self._pick(self._items(truth, truth.usable))
        targets = [f for f in self._usable_folders(truth) if item and f != item["folder_id"]]
        if item is None or not targets:
            return False
        self.control.move_item(truth.smtp, item["id"], self.random.choice(targets))
        return True

    def _restore(self, truth: Truth) -> bool:
        item = self._pick(self._items(truth, truth.in_trash))
        if item is None:
            return False
        self.control.move_item(truth.smtp, item["id"], self._pick(self._usable_folders(truth)))
        return True

    def _copy(self, truth: Truth) -> bool:
        item = self._pick(self._items(truth, truth.usable))
        if item is None:
            return False
        self.control.copy_item(truth.smtp, item["id"], self._pick(self._usable_folders(truth)))
        return True

    def _delete(self, truth: Truth) -> bool:
        view = self.observe()
        how = self.random.choice(DELETE_TYPES)
        candidates = [i for i in self._items(truth, truth.is_mail_folder)
                      if self._seen(truth, i, view)]
        if how == "MoveToDeletedItems":
            candidates = [i for i in candidates if not truth.in_trash(i["folder_id"])]
        item = self._pick(candidates)
        if item is None:
            return False
        self.control.delete_item(truth.smtp, item["id"], how)
        return True

    def _empty_deleted_items(self, truth: Truth) -> bool:
        view = self.observe()
        with_subfolders = self.random.random() < 0.5
        folders = self._subtree(truth, truth.trash) if with_subfolders else [truth.trash]
        items = self._items(truth, lambda f: f in folders)
        if not (self._folders_seen(truth, folders, view)
                and all(self._seen(truth, i, view) for i in items)):
            return False
        self.control.empty_folder(truth.smtp, "deleteditems",
                                  self.random.choice(["SoftDelete", "HardDelete"]),
                                  delete_subfolders=with_subfolders)
        return True

    # --- folders ----------------------------------------------------------------------------
    def _create_folder(self, truth: Truth) -> bool:
        parent = self._pick([*self._usable_folders(truth), truth.ipm])
        folder_class = "IPF.Note" if self.random.random() < 0.85 else "IPF.Contact"
        if folder_class != "IPF.Note":
            parent = truth.ipm
        self.control.create_folder(truth.smtp, parent, self._new_name(), folder_class)
        return True

    def _rename_folder(self, truth: Truth) -> bool:
        folder = self._pick(self._user_folders(truth, truth.usable))
        if folder is None:
            return False
        self.control.rename_folder(truth.smtp, folder, self._new_name())
        return True

    def _move_folder(self, truth: Truth) -> bool:
        folder = self._pick(self._user_folders(truth, truth.usable))
        if folder is None:
            return False
        inside = set(self._subtree(truth, folder))
        targets = [f for f in [*self._usable_folders(truth), truth.ipm]
                   if f not in inside and f != truth.live_folders[folder]["parent_id"]]
        if not targets:
            return False
        self.control.move_folder(truth.smtp, folder, self.random.choice(targets))
        return True

    def _delete_folder(self, truth: Truth) -> bool:
        view = self.observe()
        how = self.random.choice(DELETE_TYPES)
        where = truth.usable if how == "MoveToDeletedItems" else truth.is_mail_folder
        folder = self._pick(self._user_folders(truth, where))
        if folder is None:
            return False
        subtree = self._subtree(truth, folder)
        items = self._items(truth, lambda f: f in subtree)
        if not (self._folders_seen(truth, subtree, view)
                and all(self._seen(truth, i, view) for i in items)):
            return False
        parent = truth.live_folders[folder]["parent_id"]
        self.control.delete_folder(truth.smtp, folder, how)
        if how == "MoveToDeletedItems":
            self.journal.trashed_from[truth.smtp, folder] = parent
        return True

    def _restore_folder(self, truth: Truth) -> bool:
        trashed = [f for f, v in truth.live_folders.items()
                   if v["parent_id"] == truth.trash and truth.is_mail_folder(f)]
        folder = self._pick(sorted(trashed))
        if folder is None:
            return False
        self.control.move_folder(truth.smtp, folder, self._pick(self._usable_folders(truth)))
        self.journal.trashed_from.pop((truth.smtp, folder), None)
        return True
