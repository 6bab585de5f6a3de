"""A rescan (an admin's resync, or the drift check's) reads a folder again from scratch and
publishes every state in it again: a change a sync lost while its SyncState moved on comes
back, keys are kept, nothing is duplicated, and a message gone meanwhile stays, marked deleted."""

from __future__ import annotations

from pathlib import Path

from extractor.requests import SyncRequest, request_for
from mfr.ews import EwsConnection
from mfr.resync import resync_event
from simulator import Simulator
from tests.extractor.harness import Extraction
from tests.extractor.truth import problems


def test_a_rescan_finds_what_a_sync_lost_and_keeps_keys(
    sim: Simulator, connection: EwsConnection, smtp: str, tmp_path: Path
) -> None:
    inbox = sim.control.folder_id(smtp, "inbox")
    items = [sim.control.create_item(smtp, "inbox", subject=f"m{n}") for n in range(3)]
    ex = Extraction(connection, smtp, tmp_path)
    ex.run()
    before = {m["message_key"]: m for m in ex.messages()}
    sim.faults.lose_sync(2)  # the next two changes the inbox's sync would report
    sim.control.create_item(smtp, "inbox", subject="lost")
    sim.control.delete_item(smtp, items[0], "HardDelete")
    ex.run(folders={inbox})
    assert {m["subject"] for m in ex.messages() if not m["deleted"]} == {"m0", "m1", "m2"}
    request = request_for(resync_event(smtp, inbox, "test"))
    assert request.rescan == {inbox}
    result = ex.sync.run(request)
    assert result.rescanned == 1
    after = {m["message_key"]: m for m in ex.messages()}
    assert set(before) < set(after)
    assert len(after) == 4
    assert all(after[k]["version"] > before[k]["version"] for k in before)  # published again
    gone = after[next(k for k, m in before.items() if m["subject"] == "m0")]
    assert (gone["deleted"], gone["last_known_folder_key"]) == (True, inbox)
    assert problems(sim.ground_truth(smtp), ex.messages(), ex.folders()) == []
    whole = ex.sync.run(SyncRequest(smtp, rescan=request_for(resync_event(smtp, None, "t")).rescan))
    assert whole.rescanned >= 1
    assert len(ex.messages()) == 4
    ex.close()
