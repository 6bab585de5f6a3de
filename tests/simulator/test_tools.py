"""The generator, live activity, the JSON control API and the ``mfr simulator`` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from typing import Any

import httpx

from simulator import Simulator
from simulator.activity import Activity
from simulator.generator import populate
from tests.simulator.raw import code, envelope, post


def _shape(sim: Simulator, smtp: str) -> tuple[list[Any], list[Any]]:
    truth = sim.ground_truth(smtp)
    folders = sorted((f.get("path") or f["name"], f["folder_class"]) for f in truth["folders"])
    items = sorted((i["subject"], i["item_class"], i["sensitivity"]) for i in truth["items"])
    return folders, items


def test_generator_is_seeded_and_realistic() -> None:
    """The same seed yields the same mailboxes; they mix folder classes, item classes and
    sensitivities."""
    first, second = Simulator(), Simulator()
    made = populate(first.control, 2, 300, 42, "sim.example", "pw")
    assert made == populate(second.control, 2, 300, 42, "sim.example", "pw")
    assert _shape(first, made[0]) == _shape(second, made[0])
    truth = first.ground_truth(made[0])
    classes = Counter(i["item_class"] for i in truth["items"])
    assert {"IPM.Note", "IPM.Note.MimecastStub", "IPM.Schedule.Meeting.Request"} <= set(classes)
    assert any(c.startswith("REPORT.IPM") for c in classes)
    assert {"Normal", "Personal", "Private"} <= {i["sensitivity"] for i in truth["items"]}
    assert {"IPF.Note", "IPF.Appointment", "IPF.Contact"} <= {
        f["folder_class"] for f in truth["folders"]
    }


def test_activity_changes_mailboxes() -> None:
    """Live activity creates, reads, moves and deletes messages."""
    sim = Simulator()
    made = populate(sim.control, 1, 20, 1, "sim.example", "pw")
    activity = Activity(sim.control, made, rate=100, seed=5)
    done = Counter(activity.step() for _ in range(60))
    assert done["new mail"] > 0
    assert len(done) >= 3


def test_json_control_api(sim: Simulator) -> None:
    """The control API drives mailboxes, faults and the clock over HTTP with JSON."""
    base = sim.url + "/control"
    smtp = "json.user@sim.example"
    created = httpx.post(f"{base}/mailboxes", json={"smtp": smtp, "password": "pw"})
    assert created.status_code == 200, created.text
    item = httpx.post(
        f"{base}/mailboxes/{smtp}/create_item",
        json={"folder": "inbox", "subject": "via json", "sensitivity": "Private"},
    ).json()["result"]
    moved = httpx.post(
        f"{base}/mailboxes/{smtp}/move_item", json={"item_id": item, "destination": "archive"}
    ).json()["result"]
    truth = httpx.get(f"{base}/mailboxes/{smtp}/truth").json()["result"]
    [found] = [i for i in truth["items"] if i["subject"] == "via json"]
    assert found["id"] == moved
    assert found["sensitivity"] == "Private"
    bad = httpx.post(f"{base}/mailboxes/{smtp}/move_item", json={"item_id": "nope"})
    assert bad.status_code == 400
    assert httpx.post(f"{base}/faults/throttle", json={"next_n": 1}).status_code == 200
    get_inbox = (
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        "<m:FolderIds><t:DistinguishedFolderId Id='inbox'/></m:FolderIds></m:GetFolder>"
    )
    assert code(post(sim, envelope(get_inbox, impersonate=smtp))) == "ErrorServerBusy"
    log = httpx.get(f"{base}/requests", params={"mailbox": smtp}).json()["result"]
    assert log[-1]["result"] == "ErrorServerBusy"
    assert httpx.post(f"{base}/clock/advance", json={"seconds": 1}).status_code == 200
    assert httpx.post(f"{base}/subscriptions/expire", json={}).status_code == 200


def test_mfr_simulator_command_prints_how_to_connect() -> None:
    """``mfr simulator`` serves generated mailboxes and prints endpoint, account and password."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from mfr.cli import main; main()", "simulator",
         "--mailboxes", "2", "--messages", "5", "--seed", "3", "--port", "0"],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        endpoint = lines[0].split()[-1]
        account = lines[2].split()[2]
        password = lines[3].split()[-1]
        assert endpoint.endswith("/EWS/Exchange.asmx")
        body = envelope(
            "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
            "<m:FolderIds><t:DistinguishedFolderId Id='inbox'/></m:FolderIds></m:GetFolder>",
            impersonate="alice.horvat1@sim.example",
        )
        response = httpx.post(endpoint, content=body, auth=(account, password), timeout=10)
        assert code(response) == "NoError"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
