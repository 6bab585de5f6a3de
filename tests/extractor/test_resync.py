"""A SyncState Exchange rejects (ErrorInvalidSyncStateData) lists the folder again from scratch:
known messages keep their keys, and those the new listing lacks are taken as gone, so a delete
made while the state was lost is not lost with it."""

from __future__ import annotations

from pathlib import Path

from mfr.ews import EwsConnection
from simulator import Simulator
from tests.extractor.harness import Extraction
from tests.extractor.truth import problems


def test_a_rejected_sync_state_loses_no_delete(
    sim: Simulator, connection: EwsConnection, smtp: str, tmp_path: Path
) -> None:
    inbox, archive = sim.control.folder_id(smtp, "inbox"), sim.control.folder_id(smtp, "archive")
    items = [sim.control.create_item(smtp, "inbox", subject=f"m{n}") for n in range(4)]
    ex = Extraction(connection, smtp, tmp_path)
    ex.run()
    keys = {m["subject"]: m["message_key"] for m in ex.messages()}
    sim.control.delete_item(smtp, items[0], "HardDelete")
    sim.control.move_item(smtp, items[1], "archive")
    sim.control.create_item(smtp, "inbox", subject="new")
    checkpoint = ex.checkpoints.get(smtp, inbox)
    assert checkpoint is not None
    ex.checkpoints.put({**checkpoint, "sync_state": "bm90IGEgc3luYyBzdGF0ZQ=="})
    ex.run(folders={inbox, archive})
    states = {m["subject"]: m for m in ex.messages()}
    assert {s: states[s]["message_key"] for s in keys} == keys
    assert (states["m0"]["deleted"], states["m0"]["last_known_folder_key"]) == (True, inbox)
    assert (states["m1"]["deleted"], states["m1"]["folder_key"]) == (False, archive)
    assert not states["new"]["deleted"]
    assert problems(sim.ground_truth(smtp), ex.messages(), ex.folders()) == []
    ex.close()
