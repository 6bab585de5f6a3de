"""A crash in the middle of an initial sync resumes at the page where it stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.exchange import ItemsPage, MailboxReader
from mfr.ews import EwsConnection
from simulator import Simulator
from tests.extractor.harness import Extraction


class CrashError(Exception):
    """The process dies here."""


class DyingReader(MailboxReader):
    """Records every SyncFolderItems request; dies when asked for ``folder``'s page ``die_at``."""

    def __init__(
        self, connection: EwsConnection, mailbox: str, folder: str = "", die_at: int = 0
    ) -> None:
        super().__init__(connection, mailbox)
        self.folder, self.die_at = folder, die_at
        self.asked: list[tuple[str, str | None]] = []

    def items_page(self, folder_id: str, sync_state: str | None) -> ItemsPage:
        pages_so_far = sum(1 for folder, _ in self.asked if folder == folder_id)
        if folder_id == self.folder and pages_so_far + 1 == self.die_at:
            raise CrashError
        self.asked.append((folder_id, sync_state))
        return super().items_page(folder_id, sync_state)


def test_initial_sync_resumes_from_its_checkpoint_after_a_crash(
    sim: Simulator, connection: EwsConnection, smtp: str, tmp_path: Path
) -> None:
    """Pages completed before the crash are never fetched again; every message ends up once."""
    inbox = sim.control.folder_id(smtp, "inbox")
    for n in range(1300):  # three pages of 512
        sim.control.create_item(smtp, "inbox", subject=f"m{n}", new_mail=False)
    ex = Extraction(connection, smtp, tmp_path)
    first = DyingReader(connection, smtp, folder=inbox, die_at=3)
    ex.restart(first)
    with pytest.raises(CrashError):
        ex.run()
    ex.producer.close()
    ex.store.close()
    second = DyingReader(connection, smtp)
    ex.restart(second)
    ex.run()
    assert not set(first.asked) & set(second.asked)
    inbox_after = [state for folder, state in second.asked if folder == inbox]
    assert inbox_after[0] is not None  # resumed from the saved state, not from scratch
    # two pages before the crash, the last one after it: three in all, as without a crash
    assert len([f for f, _ in first.asked if f == inbox]) + len(inbox_after) == 3
    subjects = [m["subject"] for m in ex.messages()]
    assert len(subjects) == len(set(subjects)) == 1300
    ex.close()
