"""The folder counts the database keeps (``folder_counts``, migration 0006) always equal a
recount of the messages, through every way a message changes: new, read, moved, deleted,
restored, withdrawn, replayed stale, purged; and the migration counts what was there before it."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import Engine, and_, case, false, func, select

from archive.ingest.apply import apply_batch
from archive.ingest.wire import parse_record
from archive.retention import purge
from archive.store.engine import alembic_config, migrate, open_engine
from archive.store.tables import folder_counts, mailboxes, messages
from tests.archive.conftest import RunningArchive
from tests.archive.records import HOUR, T0, batch, folder, message

BOX = "alice@example.com"
OTHER = "bob@example.com"
Counts = dict[tuple[int, str], tuple[int, int, int]]


def kept(engine: Engine) -> Counts:
    """``folder_counts``, folders whose counts went back to zero left out."""
    c = folder_counts.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.mailbox_id, c.folder_key, c.messages, c.deleted, c.unread))
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows if any(r[2:])}


def recount(engine: Engine) -> Counts:
    """The counts as the folder tree computed them before they were kept."""
    m = messages.c
    query = (
        select(m.mailbox_id, m.last_known_folder_key, func.count(),
               func.sum(case((m.deleted, 1), else_=0)),
               func.sum(case((and_(m.is_read == false(), ~m.deleted), 1), else_=0)))
        .where(m.last_known_folder_key.is_not(None))
        .group_by(m.mailbox_id, m.last_known_folder_key)
    )
    with engine.connect() as conn:
        return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in conn.execute(query)}


def _read(i: int) -> bool | None:
    return None if i % 7 == 0 else i % 3 == 0


def _start() -> list[dict[str, Any]]:
    records = [folder(box, key, 1) for box in (BOX, OTHER) for key in ("inbox", "archive")]
    for i in range(30):
        records.append(message(BOX, f"m{i}", 1, folder_key="inbox" if i % 2 else "archive",
                               is_read=_read(i), datetime_received=T0 - i * HOUR))
    records += [message(OTHER, f"m{i}", 1, is_read=False) for i in range(4)]
    return records


def _changes() -> list[dict[str, Any]]:
    """Newer versions: read, moved, deleted (moved to Deleted Items, or already there),
    withdrawn (or made private), a deleted one restored."""
    deleted: dict[str, Any] = {"folder_key": "deleteditems", "deleted": True, "deleted_time": T0}
    return [
        message(BOX, "m1", 2, is_read=True),
        message(BOX, "m3", 2, folder_key="archive", is_read=False),
        message(BOX, "m5", 2, **{**deleted, "last_known_folder_key": "inbox"}),
        message(BOX, "m6", 2, **{**deleted, "last_known_folder_key": "archive"}, is_read=False),
        message(BOX, "m7", 2, withdrawn=True, withdrawn_time=T0),
        message(BOX, "m8", 2, folder_key="archive", sensitivity="Private"),
        message(BOX, "m9", 2, **{**deleted, "last_known_folder_key": "inbox"}),
        message(BOX, "m9", 3, folder_key="inbox", is_read=False),  # restored
        message(BOX, "m10", 2, folder_key="deleteditems", deleted=True, is_read=None),
        message(OTHER, "m0", 2, is_read=True),
    ]


def test_kept_counts_follow_every_change(archive: RunningArchive) -> None:
    """After each batch (and a stale replay, and a purge) the kept counts equal a recount,
    and the folder tree shows them."""
    steps = [_start(), _changes(), _start() + _changes()[:3]]  # the last one all stale
    for step in steps:
        assert archive.ingest(batch(*step)).status_code == 200
        assert kept(archive.engine) == recount(archive.engine)
    # received more than 10 hours before T0: purged (deleted and withdrawn ones are younger)
    purged = purge(archive.engine, retention_days=1, now_ms=T0 - 10 * HOUR + 24 * HOUR)
    assert purged.messages > 0
    assert kept(archive.engine) == recount(archive.engine)
    with archive.client(BOX) as client:
        tree = client.get(f"/api/v1/mailboxes/{BOX}/folders").json()
    counts = {f["folder_key"]: (f["messages"], f["deleted_messages"], f["unread"])
              for f in tree["folders"]}
    with archive.engine.connect() as conn:
        box = conn.execute(select(mailboxes.c.id).where(mailboxes.c.address == BOX)).scalar_one()
    expected = {key: recount(archive.engine).get((box, key), (0, 0, 0)) for key in counts}
    assert set(counts) == {"inbox", "archive"}
    assert counts == expected


def test_the_migration_counts_the_messages_already_there(database_url: str) -> None:
    """An archive upgraded from 0005 with messages in it starts with their counts."""
    engine = open_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0005")
        records = [parse_record(n, raw) for n, raw in enumerate(_start() + _changes())]
        with engine.begin() as conn:
            apply_batch(conn, records, T0)
        migrate(engine)
        assert kept(engine) == recount(engine)
        assert sum(n for n, _d, _u in kept(engine).values()) == 32  # 34 less 2 withdrawn
    finally:
        engine.dispose()
