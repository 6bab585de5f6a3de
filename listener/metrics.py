"""The listener's Prometheus metrics, in a registry of its own (one per listener instance)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from mfr.metrics import new_registry


class Metrics:
    """What /metrics reports."""

    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry
        self.events = Counter("mfr_listener_events", "Change events written, by type", ["type"],
                              registry=r)
        self.subscriptions = Gauge("mfr_listener_subscriptions", "Mailboxes subscribed now",
                                   registry=r)
        self.connections = Gauge("mfr_listener_streaming_connections",
                                 "Streaming connections open now", registry=r)
        self.groups = Gauge("mfr_listener_affinity_groups", "Affinity groups (connections "
                            "wanted)", registry=r)
        self.reconnects = Counter("mfr_listener_reconnects", "Streaming connections reopened",
                                  ["reason"], registry=r)
        self.resyncs = Counter("mfr_listener_resyncs", "Resync events written", ["reason"],
                               registry=r)
        self.throttled = Counter("mfr_listener_throttled", "Requests Exchange throttled",
                                 ["code"], registry=r)
        self.ews_errors = Counter("mfr_listener_ews_errors", "EWS failures", ["code"],
                                  registry=r)
        self.push_requests = Counter("mfr_listener_push_requests", "Push notifications answered",
                                     ["outcome"], registry=r)
        self.produce_seconds = Histogram("mfr_listener_produce_seconds",
                                         "Time to store a batch of change events on the bus",
                                         ["result"], registry=r)

        # Graph mode (webhooks)
        self.notifications = Counter("mfr_listener_notifications",
                                     "Graph notifications received, by kind (change, lifecycle)",
                                     ["kind"], registry=r)
        self.dropped = Counter("mfr_listener_notifications_dropped",
                               "Graph notifications dropped unwritten, by reason", ["reason"],
                               registry=r)
        self.lifecycle = Counter("mfr_listener_lifecycle_events",
                                 "Graph lifecycle notifications accepted, by event", ["event"],
                                 registry=r)
        self.ack_seconds = Histogram(
            "mfr_listener_webhook_ack_seconds",
            "Time from a webhook POST's arrival to its answer (Graph allows 3 s)",
            ["outcome"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 3.0, 5.0),
        )
        self.webhook_requests = Counter("mfr_listener_webhook_requests",
                                        "Webhook POSTs answered, by outcome", ["outcome"],
                                        registry=r)
        self.renewed = Counter("mfr_listener_subscriptions_renewed",
                               "Graph subscriptions renewed before expiry (or reauthorized)",
                               ["how"], registry=r)
        self.recreated = Counter("mfr_listener_subscriptions_recreated",
                                 "Graph subscriptions created anew, by reason", ["reason"],
                                 registry=r)
        self.graph_errors = Counter("mfr_listener_graph_errors",
                                    "Failed Graph subscription calls, by HTTP status and code",
                                    ["status", "code"], registry=r)
        self.hierarchy_checks = Counter("mfr_listener_hierarchy_checks",
                                        "Folder-tree check events written (Graph)", registry=r)

    def flushed(self, seconds: float, records: int, ok: bool) -> None:
        """Record one flush of the outbox."""
        self.produce_seconds.labels("ok" if ok else "failed").observe(seconds)
