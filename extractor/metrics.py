"""The extractor's Prometheus metrics, in a registry of its own (one per service instance)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from mfr.metrics import new_registry


class Metrics:
    """What /metrics reports."""

    def __init__(self) -> None:
        self.registry = new_registry()
        self.events = Counter("mfr_extractor_events", "Change events consumed", ["type"],
                              registry=self.registry)
        self.cycles = Counter("mfr_extractor_cycles", "Mailbox sync cycles", ["result"],
                              registry=self.registry)
        self.states = Counter("mfr_extractor_states", "State records published", ["kind"],
                              registry=self.registry)
        self.pages = Counter("mfr_extractor_sync_pages", "SyncFolderItems pages read",
                             registry=self.registry)
        self.ews_retries = Counter("mfr_extractor_ews_retries", "EWS calls retried", ["code"],
                                   registry=self.registry)
        self.dead_letters = Counter("mfr_extractor_dead_letters", "Records dead-lettered",
                                    ["reason"], registry=self.registry)
        self.pending = Gauge("mfr_extractor_pending_mailboxes", "Mailboxes waiting for a cycle",
                             registry=self.registry)
        self.running = Gauge("mfr_extractor_running_mailboxes", "Mailboxes syncing now",
                             registry=self.registry)
        self.lag = Gauge("mfr_extractor_max_lag_seconds",
                         "Longest delay from an Exchange event to its published state",
                         registry=self.registry)
        self.drift_checks = Counter("mfr_extractor_drift_checks", "Mailbox drift checks by "
                                    "result (same, drift, failed, unsupported)", ["result"],
                                    registry=self.registry)
        self.drift_folders = Counter("mfr_extractor_drift_folders", "Folders found differing "
                                     "from the archive, and read again", registry=self.registry)
        self.resyncs = Counter("mfr_extractor_rescanned_folders",
                               "Folders read again from scratch (asked for, or drift)",
                               registry=self.registry)
        self.cycle_seconds = Histogram("mfr_extractor_cycle_seconds", "Duration of sync cycles",
                                       registry=self.registry)
