"""The archive's Prometheus metrics, in a registry of the app's own (no global state)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from mfr.metrics import new_registry


class ArchiveMetrics:
    """Counters and timings the archive exposes on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = new_registry()
        self.batches = Counter(
            "mfr_archive_ingest_batches", "Ingest batches by result", ["result"],
            registry=self.registry,
        )
        self.records = Counter(
            "mfr_archive_ingest_records", "Ingested records by outcome", ["outcome"],
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "mfr_archive_ingest_seconds", "Time to apply one batch", registry=self.registry
        )
        self.purged = Counter(
            "mfr_archive_purged_rows", "Rows removed by the retention purge", ["table"],
            registry=self.registry,
        )
        self.drift_folders = Counter(
            "mfr_archive_drift_folders", "Folders drift checks found differing from Exchange",
            registry=self.registry,
        )
        self.resync_requests = Counter(
            "mfr_archive_resync_requests", "Resyncs admins asked for on the admin page",
            registry=self.registry,
        )
        self.sign_ins = Counter(
            "mfr_archive_sign_ins", "Sign-in attempts by result", ["result"],
            registry=self.registry,
        )
