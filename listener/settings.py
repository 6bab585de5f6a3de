"""Settings of ``mfr listener``: which mailboxes, how to be notified, and the limits to respect."""

from __future__ import annotations

from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, model_validator

from mfr.ews import ExchangeSettings
from mfr.settings import MfrSettings, OpsAccess, Section, ServerTls

EVENT_TYPES = (
    "CopiedEvent",
    "CreatedEvent",
    "DeletedEvent",
    "ModifiedEvent",
    "MovedEvent",
    "NewMailEvent",
)


class StreamingSection(Section):
    """Streaming notifications: hanging GetStreamingEvents connections, grouped by affinity."""

    subscriptions_per_connection: int = Field(
        default=200, ge=1, le=200, description="Exchange accepts at most 200 per connection"
    )
    hanging_connection_limit: int = Field(
        default=10, ge=1, le=1000,
        description="HangingConnectionLimit: open streaming connections per budget "
        "(Exchange Online, 2016, 2019: 10; Exchange 2013: 3)",
    )
    hanging_budget: Literal["service_account", "anchor_mailbox"] = Field(
        default="service_account",
        description="whose budget a connection is charged to: all connections of the service "
        "account together (safe everywhere), or each group's impersonated anchor mailbox "
        "(Microsoft's advice for more connections than one account's limit)",
    )
    max_connections: int = Field(
        default=100, ge=1, le=1000,
        description="with hanging_budget = anchor_mailbox: cap on open connections (threads)",
    )
    connection_timeout_min: int = Field(
        default=10, ge=1, le=30,
        description="ConnectionTimeout asked for; the server then closes the connection "
        "cleanly and the listener opens the next one at once (also when members changed)",
    )
    silence_timeout_s: float = Field(
        default=150.0, gt=0,
        description="no document (event or keep-alive) for this long: the connection is dead",
    )
    retry_after_s: float = Field(
        default=2.0, gt=0, description="first pause before reopening a failed connection"
    )


class PushSection(Section):
    """Push notifications: Exchange POSTs SendNotification to a callback URL of ours."""

    callback_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="how Exchange reaches this listener, e.g. https://listener.contoso.com/push; "
        "each subscription gets an unguessable path under it",
    )
    status_frequency_min: int = Field(
        default=5, ge=1, le=1440, description="StatusFrequency: minutes between StatusEvents"
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="larger notification bodies are refused"
    )
    ack_timeout_s: float = Field(
        default=20.0, gt=0,
        description="how long a notification may wait for the bus before it is refused "
        "(Exchange then delivers it again)",
    )
    check_every_s: float = Field(
        default=15.0, gt=0, description="how often subscriptions are checked for silence"
    )


class GraphListenerSection(Section):
    """Graph change notifications (``[exchange] api = "graph"``): webhooks to this listener."""

    notification_url: AnyHttpUrl | None = Field(
        default=None,
        description="the listener's public HTTPS base URL, e.g. https://listener.contoso.com "
        "(a reverse proxy in front of the listener); Graph POSTs to {notification_url}"
        "/graph/notifications and /graph/lifecycle. Plain http only on loopback (tests)",
    )
    subscription_minutes: int = Field(
        default=4200, ge=5, le=4230,
        description="lifetime asked for each subscription: Outlook messages allow at most 4,230 "
        "minutes; the default leaves 30 minutes for clock skew between us and Graph",
    )
    renew_before_min: float = Field(
        default=1440.0, gt=0,
        description="renew a subscription when less than this is left of its lifetime",
    )
    check_every_s: float = Field(
        default=30.0, gt=0, description="how often expiry and failed subscriptions are looked at"
    )
    hierarchy_interval_s: float = Field(
        default=60.0, gt=0,
        description="Graph has no notifications for the folder tree: each mailbox gets a folder "
        "check event this often, mailboxes spread evenly over the interval",
    )
    ack_timeout_s: float = Field(
        default=2.5, gt=0, lt=3.0,
        description="how long a notification may wait for the bus; Graph waits 3 s for the "
        "answer, so past this it gets a 503 and delivers again",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="larger notification bodies are refused (413)"
    )
    max_depth: int = Field(
        default=16, ge=4, le=64, description="JSON nested deeper is refused (400)"
    )
    access_denied_retry_s: float = Field(
        default=900.0, gt=0,
        description="a mailbox refused with 401/403 is tried again only after this long: an "
        "admin must act, so a tight loop would only burn the throttling budget",
    )
    serving_wait_s: float = Field(
        default=30.0, ge=0,
        description="at start, how long to wait for the HTTP app before subscribing (Graph "
        "validates the notification URL while each subscription is created)",
    )

    @model_validator(mode="after")
    def _https_unless_loopback(self) -> Self:
        url = self.notification_url
        if url is not None and url.scheme != "https":
            host = (urlsplit(str(url)).hostname or "").lower()
            if host not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError("graph.notification_url must be https:// (Graph delivers only "
                                 "to HTTPS); plain http is accepted on loopback only")
        return self


class ListenerSection(Section):
    """What the listener subscribes to and how."""

    mode: Literal["streaming", "push"] = "streaming"
    mailboxes: list[str] = Field(default_factory=list, description="SMTP addresses")
    distribution_groups: list[str] = Field(
        default_factory=list, description="groups expanded (ExpandDL, nested too) and re-read"
    )
    groups_refresh_s: float = Field(
        default=900.0, gt=0, description="how often distribution groups are read again"
    )
    event_types: list[str] = Field(default_factory=lambda: list(EVENT_TYPES), min_length=1)
    subscribe_concurrency: int = Field(
        default=8, ge=1, le=64, description="Subscribe calls in flight at once"
    )
    resubscribe_after_s: float = Field(
        default=30.0, gt=0, description="pause before a failed mailbox is subscribed again"
    )
    bus_flush_timeout_s: float = Field(
        default=30.0, gt=0, description="how long one write to the bus may take before it "
        "counts as failed"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535,
                      description="health, metrics, status and push callbacks")
    tls: ServerTls = Field(default_factory=ServerTls,
                           description="HTTPS on host:port (Exchange's push calls come here)")
    ops: OpsAccess = Field(default_factory=OpsAccess,
                           description="who may read /status and /metrics")
    streaming: StreamingSection = StreamingSection()
    push: PushSection = PushSection()
    graph: GraphListenerSection = GraphListenerSection()

    @model_validator(mode="after")
    def _push_needs_a_callback(self) -> Self:
        if self.mode == "push" and self.push.callback_base_url is None:
            raise ValueError("mode = push needs push.callback_base_url")
        unknown = sorted(set(self.event_types) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
        return self


class ListenerSettings(MfrSettings):
    """Everything ``mfr listener`` needs."""

    exchange: ExchangeSettings
    listener: ListenerSection = ListenerSection()

    @model_validator(mode="after")
    def _graph_needs_a_notification_url(self) -> Self:
        if self.exchange.api == "graph" and self.listener.graph.notification_url is None:
            raise ValueError("[exchange] api = graph needs listener.graph.notification_url")
        return self
