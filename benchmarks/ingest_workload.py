"""Pipeline-like ingest batches for ``archive_bench``: what the publisher sends the archive while
many mailboxes change at once, and the old ingest code to compare with, in the same run.

One sync cycle of a mailbox yields, as the extractor writes them: one MessageState (a new message,
or a newer version of one already sent: read, moved or flagged), the FolderState of its folder
(counts changed, so a new version) and the extractor's MailboxStatus. The publisher batches
records of many mailboxes together, so a batch of 500 touches ~170 mailboxes, each with a few
records: the case where per-mailbox statements cost the most.
"""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

T0 = 1_700_000_000_000
FOLDERS = ("inbox", "archive", "projects", "sent")
# The commit whose archive/ingest/apply.py applied batches mailbox by mailbox (issue 13).
PER_MAILBOX_COMMIT = "e36a019"

Apply = Callable[..., Any]


def pipeline_records(
    mailboxes: int, cycles: int, update_share: float = 0.3
) -> list[dict[str, Any]]:
    """``cycles`` sync cycles spread over ``mailboxes`` mailboxes, as wire records, in the order
    the publisher would send them; ``update_share`` of the messages are newer versions of
    messages sent before."""
    rng = random.Random(13)  # noqa: S311 - a reproducible workload, not a secret
    sent: dict[int, list[str]] = {}
    versions: dict[tuple[int, str], int] = {}
    records: list[dict[str, Any]] = []
    for cycle in range(cycles):
        box = rng.randrange(mailboxes)
        address = f"user{box:05d}@corp.example"
        now = T0 + cycle * 10
        known = sent.setdefault(box, [])
        if known and rng.random() < update_share:
            key = rng.choice(known)
        else:
            key = f"AAMkAD{box:05d}{len(known):07d}" + "k" * 100
            known.append(key)
        folder_key = FOLDERS[hash(key) % len(FOLDERS)]
        version = versions[(box, key)] = versions.get((box, key), 0) + 1
        folder_version = versions[(box, folder_key)] = versions.get((box, folder_key), 0) + 1
        records.append(_message(address, key, version, folder_key, now, len(known)))
        records.append(_folder(address, folder_key, folder_version, now, len(known)))
        records.append(
            {"type": "MailboxStatus", "ref": f"status/{cycle}",
             "state": {"mailbox": address, "component": "Extractor", "state": "Live",
                       "messages": len(known), "lag_ms": 40, "updated_time": now}}
        )
    return records


def _message(address: str, key: str, version: int, folder: str, now: int, n: int) -> dict[str, Any]:
    return {
        "type": "MessageState",
        "ref": f"messages/{key[:20]}/{version}",
        "state": {
            "mailbox": address,
            "message_key": key,
            "item_id": "AAMkAGI2" + key[6:] + "y" * 20,
            "change_key": f"CQAAABYAAAB{version:08d}",
            "folder_key": folder,
            "last_known_folder_key": folder,
            "subject": f"Quarterly figures, revision {n}",
            "sender": {"name": f"Sender {n % 50}", "email_address": f"s{n % 50}@corp.example"},
            "to_recipients": [{"name": "Owner", "email_address": address}],
            "datetime_received": now - 60_000,
            "datetime_sent": now - 65_000,
            "size": 20_000 + n % 1000,
            "is_read": version > 1,
            "importance": "Normal",
            "categories": ["Finance"] if n % 10 == 0 else [],
            "internet_message_id": f"<{key[:20]}@corp.example>",
            "version": version,
            "observed_time": now,
        },
    }


def _folder(address: str, key: str, version: int, now: int, count: int) -> dict[str, Any]:
    return {
        "type": "FolderState",
        "ref": f"folders/{key}/{version}",
        "state": {
            "mailbox": address, "folder_key": key, "folder_id": f"AAMkF-{key}",
            "parent_folder_key": "root", "display_name": key.title(), "folder_class": "IPF.Note",
            "total_count": count, "unread_count": count // 3, "child_folder_count": 0,
            "version": version, "observed_time": now,
        },
    }


def per_mailbox_apply(repo: Path) -> Apply | None:
    """``apply_batch`` as it was before ingest was batched across mailboxes, loaded from git
    (read-only: ``git show``), or None when that commit is not in this checkout."""
    try:
        source = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(repo), "show", f"{PER_MAILBOX_COMMIT}:archive/ingest/apply.py"],  # noqa: S607
            check=True, capture_output=True, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("per_mailbox_apply", loader=None)
    assert spec is not None  # noqa: S101 - spec_from_loader always answers for a plain name
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    exec(compile(source, f"{PER_MAILBOX_COMMIT}:archive/ingest/apply.py", "exec"), module.__dict__)  # noqa: S102
    return _apply_of(module)


def _apply_of(module: ModuleType) -> Apply:
    apply: Apply = module.apply_batch
    return apply
