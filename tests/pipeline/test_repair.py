"""Repair in ``mfr run``: ``mfr resync``, the admin page's resync button, and the drift check
that notices an archive different from Exchange (a message removed from the archive behind the
pipeline's back; a change a sync lost while its SyncState moved on) and reads those folders
again, until the archive equals the ground truth, keys kept, nothing duplicated."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, delete, select
from typer.testing import CliRunner

from archive.accounts import add_user
from archive.store.tables import message_history, messages
from mfr.cli import app
from pipeline.archive_side import open_archive
from pipeline.run import SingleMachine
from pipeline.settings import RunSettings
from simulator import Simulator
from tests.kafka.broker import free_port
from tests.pipeline.test_run import ADMIN, ADMIN_PASSWORD, MAILBOX, PASSWORD, sim, write_config

__all__ = ["sim"]
MAIL = {"ipm.note", "ipm.note.mimecaststub"}


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not in {timeout_s}s: {what}"
        time.sleep(0.2)


def _rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(messages.c.message_key, messages.c.subject, messages.c.folder_key,
                   messages.c.deleted, messages.c.withdrawn, messages.c.version))]


def _truth(sim: Simulator) -> Counter[tuple[str, str]]:
    """(folder, subject) of every message the archive should show live."""
    items = sim.ground_truth(MAILBOX)["items"]
    return Counter((i["folder_id"], i["subject"]) for i in items if not i["deleted"]
                   and (i["item_class"] or "").lower() in MAIL
                   and i["sensitivity"] not in ("Personal", "Private"))


def _live(engine: Engine) -> Counter[tuple[str, str]]:
    return Counter((str(r["folder_key"]), str(r["subject"])) for r in _rows(engine)
                   if not r["deleted"] and not r["withdrawn"])


def _republished(engine: Engine, before: dict[str, int]) -> Callable[[], bool]:
    def check() -> bool:
        now = {str(r["message_key"]): int(str(r["version"])) for r in _rows(engine)}
        return set(now) == set(before) and all(now[k] > v for k, v in before.items())
    return check


@pytest.fixture
def running(sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[SingleMachine, Path, Engine, int]]:
    """``mfr run`` in this process, checking drift every second."""
    sim.control.create_item(MAILBOX, subject="Private matter", sensitivity="Private")
    sim.control.create_item(MAILBOX, subject="Meeting", item_class="IPM.Schedule.Meeting.Request")
    config = write_config(tmp_path, sim, free_port())
    extractor_port = free_port()
    config.write_text(config.read_text().replace("port = 0\n\n[publisher]",
                                                 f"port = {extractor_port}\n\n[publisher]")
                      + "\n[extractor.drift]\ninterval_s = 1.0\nsettle_s = 0.5\n")
    monkeypatch.setenv("MFR_EXCHANGE__PASSWORD", PASSWORD)
    machine = SingleMachine(RunSettings.load(config))
    engine = open_archive(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
    add_user(engine, ADMIN, ADMIN_PASSWORD, admin=True, mailboxes=[])
    try:
        machine.start()
        _wait(lambda: _live(engine) == _truth(sim), "the mailbox in the archive")
        yield machine, config, engine, extractor_port
    finally:
        machine.stop()
        engine.dispose()


def test_resync_and_the_drift_check_repair_the_archive(
    sim: Simulator, running: tuple[SingleMachine, Path, Engine, int]
) -> None:
    """``mfr resync`` and the admin page's button publish the scope again (newer versions, same
    keys); a row removed from the archive, and a message a sync lost, come back by the drift
    check alone; the drift is counted on /metrics and shown on the admin page."""
    machine, config, engine, extractor_port = running
    inbox = sim.control.folder_id(MAILBOX, "inbox")
    versions = {str(r["message_key"]): int(str(r["version"])) for r in _rows(engine)}

    result = CliRunner().invoke(app, ["resync", "--mailbox", MAILBOX, "--folder", inbox,
                                      "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "requested" in result.output
    _wait(_republished(engine, versions), "the inbox published again after mfr resync")

    versions = {str(r["message_key"]): int(str(r["version"])) for r in _rows(engine)}
    with httpx.Client(base_url=machine.archive_url, timeout=10) as browser:
        login = browser.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', login)
        assert token is not None
        signed_in = browser.post("/login", data={"username": ADMIN, "password": ADMIN_PASSWORD,
                                                 "csrf": token.group(1)})
        assert signed_in.status_code == 303
        page = browser.get("/admin").text
        assert 'id="repair"' in page
        assert 'action="/admin/resync"' in page
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        stale = browser.post("/admin/resync", data={"mailbox": MAILBOX, "csrf": "wrong"})
        assert stale.status_code == 403
        asked = browser.post("/admin/resync", data={"mailbox": MAILBOX, "folder": "",
                                                    "csrf": token.group(1)})
        assert asked.status_code == 303, asked.text
        _wait(_republished(engine, versions), "the mailbox published again after the button")

        # Behind the pipeline's back: a row gone from the archive.
        key = next(str(r["message_key"]) for r in _rows(engine)
                   if r["subject"] == "Lunch on Friday")
        with engine.begin() as conn:
            ref = select(messages.c.id).where(messages.c.message_key == key).scalar_subquery()
            conn.execute(delete(message_history).where(message_history.c.message_ref == ref))
            conn.execute(delete(messages).where(messages.c.message_key == key))
        _wait(lambda: key in {r["message_key"] for r in _rows(engine)}, "the row back, same key")
        assert _live(engine) == _truth(sim)

        # A change the sync lost while its SyncState moved on (its notification came; the sync
        # it prompted reported nothing).
        sim.faults.lose_sync(1)
        sim.control.create_item(MAILBOX, "inbox", subject="Lost by the sync")
        _wait(lambda: _live(engine) == _truth(sim), "the lost message found by the drift check")
        rows = _rows(engine)  # the two messages and the lost one: no duplicate
        assert len(rows) == len({r["message_key"] for r in rows}) == 3

        metrics = httpx.get(f"http://127.0.0.1:{extractor_port}/metrics").text
        drifted = re.search(r"^mfr_extractor_drift_folders_total (\S+)$", metrics, re.M)
        assert drifted is not None
        assert float(drifted.group(1)) >= 2
        page = browser.get("/admin").text
        assert 'id="drift"' in page
        assert MAILBOX in page
