"""A folder sorted by sender, subject, size or received, either way: keyset pages that never
skip or repeat a message (ties broken by id), read from an index on both databases (migration
0005), through the browse API's ``sort``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.schema import CreateIndex

from archive.browse.listing import MessageFilter, message_page
from archive.browse.ordering import Order
from archive.browse.tree import mailbox_id
from archive.store.engine import migrate, open_engine
from archive.store.tables import messages
from tests.archive.conftest import RunningArchive
from tests.archive.records import HOUR, T0, batch, folder, message

BOX = "alice@example.com"
API = f"/api/v1/mailboxes/{BOX}"
SORTS = ("sender", "-sender", "subject", "-subject", "size", "-size", "received", "-received")
# Keys every collation orders alike: plain lower-case words with distinct first letters, a
# capital that lower() folds, an empty key (no subject, no sender) and many ties.
SENDERS: list[dict[str, Any] | None] = [
    {"name": "alpha", "email_address": "a@example.org"},
    {"name": "Bravo", "email_address": "b@example.org"},
    {"name": None, "email_address": "delta@example.org"},  # no name: sorts by its address
    None,
]
SUBJECTS = ["alpha", "Charlie", None, "bravo", "charlie"]
SIZES = [2048, None, 100, 2048, 7]


@pytest.fixture
def sorted_inbox(archive: RunningArchive) -> RunningArchive:
    """44 messages in the Inbox whose sender, subject and size repeat (and sometimes lack),
    received four at a time at first; 4 in Projects, which no Inbox list may show."""
    records = [folder(BOX, "inbox", 1, display_name="Inbox"),
               folder(BOX, "projects", 1, display_name="Projects")]
    for i in range(48):
        fields: dict[str, Any] = {
            "sender": SENDERS[i % 4],
            "subject": SUBJECTS[i % 5],
            "size": SIZES[i * 3 % 5],
            "datetime_received": T0 - (i // 4 if i < 8 else i) * HOUR,
        }
        where = "projects" if i % 10 == 9 else "inbox"
        records.append(message(BOX, f"m{i:02}", 1, folder_key=where, **fields))
    assert archive.ingest(batch(*records)).status_code == 200
    return archive


def _key(item: dict[str, Any], name: str) -> Any:
    """The order's key as ``archive.store.tables.order_keys`` computes it."""
    if name == "received":
        return item["sort_time"]
    if name == "size":
        return -1 if item["size"] is None else item["size"]
    if name == "subject":
        return (item["subject"] or "").lower()
    sender = item["sender"] or {}
    return (sender.get("name") or sender.get("email_address") or "").lower()


@pytest.mark.parametrize("sort", SORTS)
def test_every_order_pages_through_the_folder_once(sorted_inbox: RunningArchive, sort: str
                                                  ) -> None:
    """Pages of 4 in each order, following next_cursor, list each Inbox message exactly once,
    in the order's key, ties by id in the same direction."""
    with sorted_inbox.client(BOX) as client:
        seen: list[dict[str, Any]] = []
        params: dict[str, Any] = {"folder": "inbox", "sort": sort, "limit": 4}
        while True:
            reply = client.get(f"{API}/messages", params=params)
            assert reply.status_code == 200, reply.text
            page = reply.json()
            seen += page["items"]
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
    order = Order.parse(sort)
    expected = sorted(seen, key=lambda item: (_key(item, order.name), item["id"]),
                      reverse=order.descending)
    assert [m["id"] for m in seen] == [m["id"] for m in expected]
    assert len({m["id"] for m in seen}) == len(seen) == 44
    assert {m["folder_key"] for m in seen} == {"inbox"}


def test_a_cursor_of_another_order_is_refused(sorted_inbox: RunningArchive) -> None:
    """A cursor holds its order: with another ``sort`` it is a 400, not a wrong page."""
    with sorted_inbox.client(BOX) as client:
        first = client.get(f"{API}/messages", params={"folder": "inbox", "sort": "subject",
                                                      "limit": 3}).json()
        reply = client.get(f"{API}/messages", params={
            "folder": "inbox", "sort": "size", "cursor": first["next_cursor"]})
    assert reply.status_code == 400
    assert "cursor" in reply.json()["detail"]


def _plan(conn: Connection, order: Order, cursor: str | None) -> str:
    """The database's plan for the page ``message_page`` asks for."""
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        captured.append((statement, parameters))

    box = mailbox_id(conn, BOX)
    assert box is not None
    event.listen(conn, "before_cursor_execute", capture)
    try:
        message_page(conn, box, MessageFilter(folder_key="inbox"), cursor, 4, order)
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a few rows: make the choice
    conn.exec_driver_sql("SET LOCAL enable_sort = off")  # between an index and sorting
    return "\n".join(str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {statement}",
                                                                 parameters))


@pytest.mark.parametrize("sort", ["sender", "-subject", "-size", "received", "-received"])
def test_sorted_pages_are_read_from_an_index(sorted_inbox: RunningArchive, sort: str) -> None:
    """The first page and a later one walk the folder's index of the order, without sorting;
    on SQLite the later one seeks its start (a deep page costs what the first does)."""
    order = Order.parse(sort)
    # received: the folder's index, or (PostgreSQL, guessing at a few rows) the mailbox's
    index = "sort_time_id" if order.name == "received" else f"ix_messages_folder_by_{order.name}"
    with sorted_inbox.engine.begin() as conn:
        first = _plan(conn, order, None)
        box = mailbox_id(conn, BOX)
        assert box is not None
        page = message_page(conn, box, MessageFilter(folder_key="inbox"), None, 4, order)
        assert page.next_cursor
        later = _plan(conn, order, page.next_cursor)
    for plan in (first, later):
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan
        assert "Sort" not in plan
    if sorted_inbox.engine.dialect.name == "sqlite":
        bound = "sort_time" if order.name == "received" else "<expr>"
        assert f"{bound}{'<' if order.descending else '>'}" in later, later


def test_sqlite_holds_the_declared_expression_indexes(tmp_path: Path) -> None:
    """Alembic cannot compare expression indexes on SQLite: the ones migration 0005 made are
    compared here with the table definitions, text for text (PostgreSQL's are compared by the
    migration test)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
    try:
        migrate(engine)
        declared = {ix.name: str(CreateIndex(ix).compile(dialect=engine.dialect))
                    for ix in messages.indexes
                    if str(ix.name).startswith("ix_messages_folder_by_")}
        with engine.connect() as conn:
            held = {name: sql for name, sql in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE name LIKE 'ix_messages_folder_by_%'")}
    finally:
        engine.dispose()
    assert len(declared) == 3
    assert held == declared
