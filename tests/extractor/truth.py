"""Compare state records with the simulator's ground truth: what the replica should converge to.

Rules (MISSION.md): mail folders (IPF.Note, below Top of Information Store) are replicated;
IPM.Note and IPM.Note.MimecastStub messages in them, never Personal or Private; a live message
sits in its folder; a deleted one is kept, marked deleted, at the folder it was deleted from. A
folder deleted into Deleted Items is shown deleted, and so are the messages inside it, at it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

MAIL_CLASSES = {"ipm.note", "ipm.note.mimecaststub"}
WITHHELD = {"Personal", "Private"}


def _replicable(item: dict[str, Any]) -> bool:
    mail = (item["item_class"] or "").lower() in MAIL_CLASSES
    return mail and item["sensitivity"] not in WITHHELD


def _mail_folders(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in truth["folders"]
            if f.get("in_ipm_subtree") and f["folder_class"] == "IPF.Note" and not f["deleted"]}


def _trashed(truth: dict[str, Any], trash: str) -> set[str]:
    """Folders beneath Deleted Items (deleted by the user, still in Exchange)."""
    parents = {f["id"]: f.get("parent_id") for f in truth["folders"] if not f["deleted"]}
    found = set()
    for folder_id in parents:
        current, seen = parents.get(folder_id), set()
        while current is not None and current not in seen:
            if current == trash:
                found.add(folder_id)
                break
            seen.add(current)
            current = parents.get(current)
    return found


def problems(truth: dict[str, Any], messages: list[dict[str, Any]],
             folders: dict[str, dict[str, Any]]) -> list[str]:
    """Every way the state records differ from the truth; empty when they agree."""
    found: list[str] = []
    mail = _mail_folders(truth)
    trash = next(f["id"] for f in truth["folders"] if f.get("distinguished") == "deleteditems")
    trashed = _trashed(truth, trash)
    for folder_id, folder in mail.items():
        state = folders.get(folder_id)
        if state is None:
            found.append(f"folder {folder['path']} missing")
        elif state["display_name"] != folder["name"]:
            found.append(f"folder {folder['path']} named {state['display_name']!r}")
        elif state["deleted"] != (folder_id in trashed):
            found.append(f"folder {folder['path']} deleted {state['deleted']}")
    shown = [m for m in messages if not m["deleted"] and not m["withdrawn"]]
    live = {m["item_id"]: m for m in shown}
    found += [f"item {i} shown as {n} messages"
              for i, n in Counter(m["item_id"] for m in shown).items() if n > 1]
    expected_live = [i for i in truth["items"]
                     if not i["deleted"] and _replicable(i) and i["folder_id"] in mail
                     and i["folder_id"] != trash and i["folder_id"] not in trashed]
    for item in expected_live:
        state = live.get(item["id"])
        if state is None:
            found.append(f"live message {item['subject']!r} missing")
            continue
        for ours, theirs in (("folder_key", "folder_id"), ("subject", "subject"),
                             ("is_read", "is_read"), ("flag_status", "flag"),
                             ("categories", "categories"), ("importance", "importance")):
            if state[ours] != item[theirs]:
                found.append(f"{item['subject']!r}: {ours} {state[ours]!r} != {item[theirs]!r}")
    extra = len(shown) - len(expected_live)
    if extra:
        found.append(f"{extra} live messages too many (duplicates, or withheld ones shown)")
    found += _deleted(truth, messages, mail, trashed)
    keys = Counter(m["message_key"] for m in messages)
    found += [f"key {k} published as {n} messages" for k, n in keys.items() if n > 1]
    return found


def _deleted(truth: dict[str, Any], messages: list[dict[str, Any]],
             mail: dict[str, dict[str, Any]], trashed: set[str]) -> list[str]:
    expected = Counter(
        (i["internet_message_id"], i["deleted"]["from_folder_id"]) for i in truth["items"]
        if i["deleted"] and _replicable(i) and i["deleted"]["from_folder_id"] in mail)
    expected.update((i["internet_message_id"], i["folder_id"]) for i in truth["items"]
                    if not i["deleted"] and _replicable(i) and i["folder_id"] in trashed)
    actual = Counter((m["internet_message_id"], m["last_known_folder_key"])
                     for m in messages if m["deleted"] and not m["withdrawn"])
    return [f"deleted {what}: {actual[what]} in the replica, {n} in Exchange"
            for what, n in expected.items() if actual[what] != n]
