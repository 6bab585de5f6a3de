"""Hostile or broken ingest requests get a precise 4xx and write nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.archive.conftest import RunningArchive
from tests.archive.records import batch, folder, message
from tests.archive.test_ingest import snapshot

BOX = "alice@example.com"
# Refused before the store is touched: checking these on one database is enough.
http_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def empty(archive: RunningArchive) -> bool:
    """Whether the store still holds no folder or message."""
    state = snapshot(archive.engine)
    return not state["messages"] and not state["folders"] and not state["history"]


@http_only
@pytest.mark.parametrize("token", ["Basic abc", "Bearer mfr_wrong", None])
def test_wrong_or_missing_token_is_refused(archive: RunningArchive, token: str | None) -> None:
    """Without a valid ingest token the batch is refused with 401 before it is read."""
    headers = {} if token is None else {"Authorization": token}
    reply = httpx.post(
        f"{archive.url}/api/ingest/v1/batches",
        json=batch(message(BOX, "m", 1)),
        headers=headers,
    )
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert empty(archive)


@http_only
def test_a_user_session_is_not_an_ingest_credential(archive: RunningArchive) -> None:
    """Signing in as a user (even an admin) does not allow writing to the archive."""
    with archive.client("admin") as client:
        reply = client.post("/api/ingest/v1/batches", json=batch(message(BOX, "m", 1)))
    assert reply.status_code == 401
    assert empty(archive)


@http_only
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "non-empty list"),
        (b'{"records": []}', "non-empty list"),
        (b'{"records": {}}', "non-empty list"),
        (b'{"records": [1], "extra": 1}', "unknown batch fields"),
    ],
)
def test_malformed_batches_get_400(archive: RunningArchive, body: bytes, expected: str) -> None:
    """A body that is not a batch is refused as a whole, saying what is wrong."""
    reply = httpx.post(
        f"{archive.url}/api/ingest/v1/batches",
        content=body,
        headers={"Authorization": f"Bearer {archive.token}", "Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    assert expected in reply.json()["detail"]


def test_bad_records_are_named_and_nothing_is_written(archive: RunningArchive) -> None:
    """Each invalid record is listed with its index, ref and reason; the valid ones in the same
    batch are not applied either."""
    good = message(BOX, "good", 1)
    no_version = message(BOX, "nv", 1)
    del no_version["state"]["version"]
    string_version = message(BOX, "sv", 1)
    string_version["state"]["version"] = "7"
    wrong_type = {"type": "Nonsense", "ref": "x/1", "state": {}}
    huge_key = message(BOX, "k" * 600, 1)
    bad_time = message(BOX, "t", 1, datetime_received="yesterday")
    body = batch(good, no_version, string_version, wrong_type, huge_key, bad_time)
    body["records"].append("junk")
    reply = archive.ingest(body)
    assert reply.status_code == 422
    body = reply.json()
    assert body["detail"] == "6 of 7 records are invalid; nothing written"
    rejected = {r["index"]: r for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6]
    assert rejected[1]["ref"] == "messages/nv/1"
    assert "state.version" in rejected[1]["reason"]
    assert "version" in rejected[2]["reason"]
    assert rejected[3]["ref"] == "x/1"
    assert "message_key" in rejected[4]["reason"]
    assert "datetime_received" in rejected[5]["reason"]
    assert rejected[6]["ref"] is None
    assert empty(archive)


def test_unknown_mailbox_is_rejected_by_name(archive: RunningArchive) -> None:
    """A record for a mailbox outside the accepted domains is rejected, naming the mailbox."""
    reply = archive.ingest(batch(folder(BOX, "inbox", 1), message("eve@elsewhere.net", "m", 1)))
    assert reply.status_code == 422
    (rejection,) = reply.json()["rejected"]
    assert rejection["index"] == 1
    assert "unknown mailbox eve@elsewhere.net" in rejection["reason"]
    assert empty(archive)


@http_only
def test_oversized_body_gets_413(archive: RunningArchive) -> None:
    """A body over the size limit is refused without being applied."""
    records = [message(BOX, f"m{i}", 1, subject="x" * 2000) for i in range(200)]
    reply = archive.ingest(batch(*records))
    assert reply.status_code == 413
    assert "limit" in reply.json()["detail"]
    assert empty(archive)


@http_only
def test_oversized_body_without_content_length_gets_413(archive: RunningArchive) -> None:
    """A chunked body is counted as it arrives and cut off at the limit."""

    def chunks() -> object:
        yield b'{"records": ['
        for _ in range(400):
            yield b'"' + b"x" * 1000 + b'",'
        yield b"1]}"

    reply = httpx.post(
        f"{archive.url}/api/ingest/v1/batches",
        content=chunks(),  # type: ignore[arg-type]
        headers={"Authorization": f"Bearer {archive.token}"},
    )
    assert reply.status_code == 413
    assert empty(archive)


@http_only
def test_too_many_records_get_413(archive: RunningArchive) -> None:
    """A batch with more records than allowed is refused whole."""
    reply = archive.ingest(batch(*[folder(BOX, f"f{i}", 1, folder_id="i") for i in range(1001)]))
    assert reply.status_code == 413
    assert "at most 1000" in reply.json()["detail"]
    assert empty(archive)
