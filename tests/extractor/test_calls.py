"""No redundant work per cycle: EWS calls, bus flushes, store transactions, checkpoint records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfr.ews import EwsConnection
from mfr.topics import Topic
from simulator import Simulator
from tests.extractor.harness import Extraction, history


@pytest.fixture
def ex(sim: Simulator, connection: EwsConnection, smtp: str, tmp_path: Path
       ) -> Iterator[Extraction]:
    """The mailbox's extractor after its initial sync."""
    extraction = Extraction(connection, smtp, tmp_path)
    extraction.run()
    yield extraction
    extraction.close()


def calls(sim: Simulator, smtp: str, operation: str) -> int:
    return len(sim.request_log.entries(operation, smtp))


def counted(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> list[int]:
    """Count calls of ``target.name`` (the real method still runs)."""
    seen: list[int] = []
    real = getattr(target, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)
    return seen


def test_a_new_message_costs_no_hierarchy_sync(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """A folder's Modified event for a new message is checked with one GetFolder: the counts
    changed, which SyncFolderHierarchy never reports, so it is not asked."""
    inbox = sim.control.folder_id(smtp, "inbox")
    hierarchy, get_folder = calls(sim, smtp, "SyncFolderHierarchy"), calls(sim, smtp, "GetFolder")
    sim.control.create_item(smtp, "inbox", subject="new")
    ex.run(folders={inbox}, folder_checks={inbox})
    assert calls(sim, smtp, "SyncFolderHierarchy") == hierarchy
    assert calls(sim, smtp, "GetFolder") == get_folder + 1
    assert [m["subject"] for m in ex.messages()] == ["new"]


def test_a_folder_event_costs_one_hierarchy_sync(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """A cycle that syncs the hierarchy does it once, not again after the folders' items."""
    inbox = sim.control.folder_id(smtp, "inbox")
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    sim.control.create_item(smtp, "inbox", subject="new")
    before = calls(sim, smtp, "SyncFolderHierarchy")
    ex.run(hierarchy=True, folders={inbox})
    assert calls(sim, smtp, "SyncFolderHierarchy") == before + 1
    assert ex.folders()[projects]["display_name"] == "Projects"


def test_a_subfolder_moved_to_deleted_items_is_seen_through_the_check(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """Only the two parents' Modified events tell of it; their child counts say the tree
    changed, so the hierarchy is synced and the folder shown deleted."""
    inbox, trash = (sim.control.folder_id(smtp, n) for n in ("inbox", "deleteditems"))
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    ex.run(hierarchy=True)
    sim.control.delete_folder(smtp, projects, "MoveToDeletedItems")
    ex.run(folders={inbox, trash}, folder_checks={inbox, trash})
    assert ex.folders()[projects]["deleted"]


def test_a_renamed_folder_is_seen_through_the_check(
    sim: Simulator, ex: Extraction, smtp: str
) -> None:
    """A Modified event for a renamed folder: its name differs, so the hierarchy is synced."""
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    ex.run(hierarchy=True)
    sim.control.rename_folder(smtp, projects, "Archive 2026")
    ex.run(folders={projects}, folder_checks={projects})
    assert ex.folders()[projects]["display_name"] == "Archive 2026"


def test_an_incremental_cycle_is_two_flushes_one_transaction_one_checkpoint(
    sim: Simulator, ex: Extraction, smtp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """States are flushed before the checkpoint past them (on Kafka nothing makes two partitions'
    writes atomic), then one store transaction; a folder whose sync state did not move gets no
    new checkpoint record."""
    inbox, sent = (sim.control.folder_id(smtp, n) for n in ("inbox", "sentitems"))
    sim.control.create_item(smtp, "inbox", subject="one")
    ex.run(folders={inbox, sent})  # sent items' state moves once after the initial sync
    flushes = counted(monkeypatch, ex.producer, "flush")
    saves = counted(monkeypatch, ex.store, "save")
    checkpoints = len(history(ex.bus, ex.settings, Topic.CHECKPOINTS))
    sim.control.create_item(smtp, "inbox", subject="two")
    ex.run(folders={inbox, sent}, folder_checks={inbox})
    written = history(ex.bus, ex.settings, Topic.CHECKPOINTS)[checkpoints:]
    assert (len(flushes), len(saves)) == (2, 1)
    assert [d["folder_id"] for _, d in written] == [inbox]
    assert sorted(m["subject"] for m in ex.messages()) == ["one", "two"]
