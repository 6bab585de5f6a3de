"""An expired or invalid delta token (410 Gone, ``syncStateNotFound``/``resyncRequired``,
delta-query-overview.md) restarts that scope from scratch without losing a delete or making a
duplicate; a crash in the middle of an initial sync resumes at the page where it stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.graphreader import GraphReader
from extractor.reader import ItemsPage
from mfr.graph import GraphClient
from simulator import Simulator
from tests.extractor.graph.truth import folder, graph_truth
from tests.extractor.harness import Extraction
from tests.extractor.truth import problems


def delta_requests(sim: Simulator, smtp: str, operation: str = "graph.message.delta") -> int:
    return len(sim.request_log.entries(operation=operation, mailbox=smtp))


def test_an_expired_token_resyncs_the_folder_without_losing_deletes(
    sim: Simulator, client: GraphClient, smtp: str, tmp_path: Path
) -> None:
    """Deletes, moves and new mail while the tokens expire: the folder is listed again, and what
    the listing lacks is looked up, so each delete keeps its kind and nothing is doubled."""
    inbox = folder(sim, smtp, "inbox")
    items = [sim.control.create_item(smtp, "inbox", subject=f"m{n}") for n in range(5)]
    ex = Extraction(client, smtp, tmp_path, page_size=2)
    ex.run()
    keys = {m["subject"]: m["message_key"] for m in ex.messages()}
    sim.control.delete_item(smtp, items[0], "HardDelete")
    sim.control.delete_item(smtp, items[1], "SoftDelete")
    sim.control.move_item(smtp, items[2], "archive")
    sim.control.create_item(smtp, "inbox", subject="new")
    sim.graph.controls["expire_delta_tokens"](smtp=smtp)
    before = [e for e in sim.request_log.entries(operation="graph.message.delta", mailbox=smtp)]
    ex.run(folders={inbox})
    gone = [
        e
        for e in sim.request_log.entries(operation="graph.message.delta", mailbox=smtp)
        if e not in before and e.status == 410
    ]
    assert gone, "the token did not expire"
    states = {m["subject"]: m for m in ex.messages()}
    assert {s: states[s]["message_key"] for s in keys} == keys  # nothing got a new key
    assert (states["m0"]["deleted"], states["m0"]["delete_kind"]) == (True, "HardDeleted")
    assert (states["m1"]["deleted"], states["m1"]["delete_kind"]) == (True, "SoftDeleted")
    assert (states["m2"]["deleted"], states["m2"]["folder_key"]) == (
        False,
        folder(sim, smtp, "archive"),
    )
    assert not states["new"]["deleted"]
    assert len(ex.messages()) == 6
    ex.run(folders={inbox})  # and the fresh token works
    assert problems(graph_truth(sim, smtp), ex.messages(), ex.folders()) == []
    ex.close()


def test_an_expired_hierarchy_token_lists_the_tree_again(
    sim: Simulator, client: GraphClient, smtp: str, tmp_path: Path
) -> None:
    """What the new listing of the folder tree lacks is gone; the rest is unchanged."""
    keep = sim.control.create_folder(smtp, "inbox", "Keep")
    drop = sim.control.create_folder(smtp, "inbox", "Drop")
    ex = Extraction(client, smtp, tmp_path)
    ex.run()
    drop_key = folder(sim, smtp, drop)
    sim.control.delete_folder(smtp, drop, "HardDelete")
    sim.graph.controls["expire_delta_tokens"](smtp=smtp)
    ex.run(hierarchy=True)
    folders = ex.folders()
    assert folders[drop_key]["deleted"]
    assert not folders[folder(sim, smtp, keep)]["deleted"]
    assert problems(graph_truth(sim, smtp), ex.messages(), folders) == []
    ex.close()


class CrashError(Exception):
    """The process dies here."""


class DyingReader(GraphReader):
    """Counts message delta pages per folder; dies when asked for ``folder``'s page ``die_at``."""

    def __init__(
        self,
        client: GraphClient,
        mailbox: str,
        folder: str = "",
        die_at: int = 0,
        page_size: int = 100,
    ) -> None:
        super().__init__(client, mailbox, page_size=page_size)
        self.folder, self.die_at = folder, die_at
        self.asked: list[tuple[str, str | None]] = []

    def items_page(self, folder_id: str, sync_state: str | None) -> ItemsPage:
        pages_so_far = sum(1 for f, _ in self.asked if f == folder_id)
        if folder_id == self.folder and pages_so_far + 1 == self.die_at:
            raise CrashError
        self.asked.append((folder_id, sync_state))
        return super().items_page(folder_id, sync_state)


@pytest.mark.parametrize("expire", [False, True])
def test_initial_sync_resumes_at_the_page_where_it_stopped(
    sim: Simulator, client: GraphClient, smtp: str, tmp_path: Path, expire: bool
) -> None:
    """Pages done before the crash are never asked for again (counted in the simulator's request
    log), and every message ends up once. If the saved link expired meanwhile, the folder is
    listed again from scratch, still without a duplicate."""
    inbox = folder(sim, smtp, "inbox")
    for n in range(250):  # three pages of 100
        sim.control.create_item(smtp, "inbox", subject=f"m{n}", new_mail=False)
    ex = Extraction(client, smtp, tmp_path)
    first = DyingReader(client, smtp, folder=inbox, die_at=3)
    ex.restart(first)
    with pytest.raises(CrashError):
        ex.run()
    ex.producer.close()
    ex.store.close()
    if expire:
        sim.graph.controls["expire_delta_tokens"](smtp=smtp)
    sent_before = delta_requests(sim, smtp)
    second = DyingReader(client, smtp)
    ex.restart(second)
    ex.run()
    inbox_after = [state for f, state in second.asked if f == inbox]
    assert inbox_after[0] is not None  # resumed from the saved link, not from scratch
    log = sim.request_log.entries(operation="graph.message.delta", mailbox=smtp)[sent_before:]
    inbox_pages = len([f for f, _ in first.asked if f == inbox]) + len(inbox_after)
    if expire:
        assert [e.status for e in log].count(410) == 1
        assert inbox_pages == 2 + 1 + 3  # two, the expired one, then all three again
    else:
        assert all(e.status == 200 for e in log)
        assert inbox_pages == 3  # two before the crash, the last one after it
    subjects = [m["subject"] for m in ex.messages()]
    assert len(subjects) == len(set(subjects)) == 250
    assert problems(graph_truth(sim, smtp), ex.messages(), ex.folders()) == []
    ex.close()
