"""Ingest of batches mixing many mailboxes, as the publisher sends them: a fixed handful of
statements per batch, and mailboxes that share keys kept apart, idempotently."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event, select

from archive.store.tables import mailbox_status, mailboxes, message_history, messages
from tests.archive.conftest import RunningArchive
from tests.archive.records import T0, batch, folder, message, status


def cycle_records(boxes: int, round_: int) -> list[dict[str, Any]]:
    """One sync cycle of each of ``boxes`` mailboxes (their own for each number of mailboxes): a
    new message, a newer version of an older one, their folder's new counts and the extractor's
    status."""
    records = []
    for n in range(boxes):
        box = f"user{n}-of-{boxes}@example.com"
        records += [
            message(box, f"new-{round_}", 1),
            message(box, "old", round_ + 1, is_read=round_ % 2 == 0),
            folder(box, "inbox", round_ + 1, total_count=round_),
            status(box, "Extractor", T0 + round_),
        ]
    return records


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs meanwhile (executemany counts once)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_batch_costs_the_same_few_statements_for_4_mailboxes_or_40(
    archive: RunningArchive,
) -> None:
    """Statements per batch do not grow with the mailboxes in it (the old ingest ran ~7 per
    mailbox); the token check and the transaction are in the count too."""
    for boxes in (4, 40):
        archive.ingest(batch(*cycle_records(boxes, 0)))  # first sight of keys and mailboxes
    counts = {}
    for boxes in (4, 40):
        with counted(archive.engine) as statements:
            reply = archive.ingest(batch(*cycle_records(boxes, 1)))
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"records": 4 * boxes, "applied": 4 * boxes,
                                "history": 3 * boxes, "stale": 0}
        counts[boxes] = len(statements)
    assert counts[4] == counts[40] <= 25, counts


def test_mailboxes_sharing_keys_stay_apart_whatever_the_order(archive: RunningArchive) -> None:
    """Two mailboxes using the same folder and message keys, their records shuffled across
    batches and sent twice, end with each mailbox's own newest versions; the resend changes
    nothing."""
    records = [
        message(box, key, v, subject=f"{box} {key} v{v}")
        for box in ("alice@example.com", "bob@example.com")
        for key in ("m1", "m2")
        for v in range(1, 4 if box.startswith("alice") else 6)
    ] + [status(box, "Extractor", T0 + n) for n in (3, 1, 2) for box in ("alice@example.com",
                                                                          "bob@example.com")]
    random.Random(11).shuffle(records)
    for start in range(0, len(records), 7):
        assert archive.ingest(batch(*records[start : start + 7])).status_code == 200
    again = archive.ingest(batch(*records))
    assert again.json() == {"records": len(records), "applied": 0, "history": 0,
                            "stale": len(records)}
    with archive.engine.connect() as conn:
        current = {
            (address, key): (version, subject)
            for address, key, version, subject in conn.execute(
                select(mailboxes.c.address, messages.c.message_key, messages.c.version,
                       messages.c.subject).join(mailboxes)
            )
        }
        versions = conn.execute(select(message_history.c.version)).scalars().all()
        statuses = dict(conn.execute(
            select(mailboxes.c.address, mailbox_status.c.updated_time).join(mailboxes)
        ).all())
        last_change = dict(
            conn.execute(select(mailboxes.c.address, mailboxes.c.last_change_time)).all()
        )
    assert current == {
        ("alice@example.com", "m1"): (3, "alice@example.com m1 v3"),
        ("alice@example.com", "m2"): (3, "alice@example.com m2 v3"),
        ("bob@example.com", "m1"): (5, "bob@example.com m1 v5"),
        ("bob@example.com", "m2"): (5, "bob@example.com m2 v5"),
    }
    assert len(versions) == 2 * 3 + 2 * 5
    assert statuses == {"alice@example.com": T0 + 3, "bob@example.com": T0 + 3}
    assert last_change == {"alice@example.com": T0 + 3000, "bob@example.com": T0 + 5000}
