"""Health, readiness, metrics, OpenAPI and the retention purge."""

from __future__ import annotations

import httpx

from archive.retention import purge
from tests.archive.conftest import RunningArchive
from tests.archive.records import T0, batch, folder, message
from tests.archive.test_ingest import snapshot

BOX = "alice@example.com"
DAY = 86_400_000


def test_health_readiness_and_metrics(archive: RunningArchive) -> None:
    """/healthz and /readyz answer 200; /metrics counts ingested batches."""
    archive.ingest(batch(message(BOX, "m", 1)))
    assert httpx.get(f"{archive.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{archive.url}/readyz").json() == {"status": "ready"}
    metrics = httpx.get(f"{archive.url}/metrics").text
    assert 'mfr_archive_ingest_batches_total{result="applied"} 1.0' in metrics


def test_openapi_documents_the_ingest_format(archive: RunningArchive) -> None:
    """The OpenAPI document carries the batch schema and every browse route."""
    spec = httpx.get(f"{archive.url}/openapi.json").json()
    body = spec["paths"]["/api/ingest/v1/batches"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/IngestBatch")
    assert {"MessageState", "FolderState", "MailboxStatus", "IngestBatch"} <= set(
        spec["components"]["schemas"]
    )
    assert "/api/v1/mailboxes/{mailbox}/messages/{message_id}" in spec["paths"]


def test_retention_purges_by_deletion_or_received_date(archive: RunningArchive) -> None:
    """Deleted messages age from deletion, kept ones from receipt; superseded history and
    deleted empty folders go; live folders stay."""
    old, recent = T0 - 400 * DAY, T0 - 10 * DAY
    archive.ingest(
        batch(
            folder(BOX, "inbox", 1),
            folder(BOX, "gone", 1, deleted=True, deleted_time=old),
            message(BOX, "old-kept", 1, datetime_received=old),
            message(BOX, "old-but-recently-deleted", 1, datetime_received=old),
            message(
                BOX,
                "old-but-recently-deleted",
                2,
                datetime_received=old,
                deleted=True,
                deleted_time=recent,
                observed_time=recent,
            ),
            message(
                BOX, "deleted-long-ago", 1, datetime_received=old, deleted=True, deleted_time=old
            ),
            message(BOX, "recent", 1, datetime_received=recent),
            message(BOX, "moved-long-ago", 1, datetime_received=recent, observed_time=old),
            message(BOX, "moved-long-ago", 2, datetime_received=recent, observed_time=old + DAY),
        )
    )
    purged = purge(archive.engine, retention_days=365, now_ms=T0)
    state = snapshot(archive.engine)
    assert sorted(state["messages"]) == ["moved-long-ago", "old-but-recently-deleted", "recent"]
    assert sorted(state["folders"]) == ["inbox"]
    assert purged.messages == 2
    assert purged.folders == 1
    versions = [(k, v) for k, v, _ in state["history"]]
    assert ("moved-long-ago", 1) not in versions  # superseded before the cutoff
    assert ("old-but-recently-deleted", 1) in versions  # still answers "as it was" questions
