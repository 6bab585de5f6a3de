"""Graph change-notification subscriptions on messages: the live ones, their expiry on the
simulator clock, and their lifecycle (change-notifications-lifecycle-events.md).

A subscription reads its mailbox's event log from a position, as an EWS subscription does; each
delivery round (``tick``) turns what it has not read yet into change notifications
(``notifications.py``) queued for webhook delivery (``delivery.py``). The HTTP API is in
``subscriptionapi.py``.

Lifecycle decisions:

- A subscription disappears at its expirationDateTime, silently: renewing in time is the client's
  job (change-notifications-delivery-webhooks.md, "Renew a subscription").
- ``reauthorizationRequired`` is sent when a subscription comes within ``reauthorize_notice_s`` of
  expiry, then every ``reauthorize_every_s`` (the lifecycle page's pseudo-code: every 15 minutes in
  the last hour), or on demand; never sooner than ``reauthorize_every_s`` after the subscription
  was last authorized (created, renewed, reauthorized), as Graph has no reason to doubt an
  authorization it just checked (so a subscription created for an hour is not challenged at
  birth). Left unanswered (no ``reauthorize``, no renewal) for
  ``reauthorize_grace_s``, change notifications pause ("eventually change notification delivery
  pauses, until you take the required action"), and changes made during the pause are lost.
- ``subscriptionRemoved`` is sent when the service removes a subscription: when its application
  lost access to the mailbox (a role or the access policy changed; the lifecycle page: "the
  conditions of access to the resource data might change over time"), or on demand.
- ``missed`` is sent when notifications were lost: discarded after the retry window, dropped for a
  slow endpoint, or read past the end of the event log's retention.
- Only subscriptions created with a ``lifecycleNotificationUrl`` get lifecycle notifications.

All methods expect ``store.lock`` to be held (the control actions take it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator.graph import notifications, subscriptionapi
from simulator.graph.auth import MAIL_ROLES
from simulator.graph.errors import GraphError
from simulator.graph.notifications import CHANGE_TYPES, LIFECYCLE_EVENTS, graph_time
from simulator.graph.request import GraphContext, GraphRoute
from simulator.mailbox import Mailbox

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace


@dataclass(slots=True, eq=False)
class GraphSubscription:
    """One subscription on one mailbox's messages (``folder`` None: all of them), how far it has
    read the mailbox's event log, and its lifecycle state."""

    id: str
    app_id: str
    mailbox: Mailbox
    folder: int | None
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    immutable: bool
    tls_version: str
    position: int
    include_resource_data: bool | None = None
    certificate: str | None = None
    certificate_id: str | None = None
    url_app_id: str | None = None
    missed: bool = False
    # Simulator monotonic time of the last challenge or authorization (creation, renewal,
    # reauthorize): the next natural challenge comes no sooner than reauthorize_every_s after.
    challenged_at: float = 0.0
    challenge_open_since: float | None = None  # an unanswered challenge, since when
    paused: bool = False

    @property
    def change_type(self) -> str:
        """The change types as Graph writes them back: comma-separated, in a fixed order."""
        return ",".join(t for t in CHANGE_TYPES if t in self.change_types)

    def authorized(self, now: float) -> None:
        """A reauthorize or a renewal at ``now``: it answers any challenge, change notifications
        flow again, and none is asked for again at once."""
        self.challenge_open_since = None
        self.paused = False
        self.challenged_at = now

    def json(self) -> dict[str, Any]:
        """The subscription entity (properties of the v1.0 CSDL only)."""
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expires),
            "creatorId": creator_id(self.app_id),
            "includeResourceData": self.include_resource_data,
            "latestSupportedTlsVersion": self.tls_version,
            "encryptionCertificate": self.certificate,
            "encryptionCertificateId": self.certificate_id,
            "notificationUrlAppId": self.url_app_id,
        }


def creator_id(app_id: str) -> str:
    """The service principal's object id: app-only subscriptions name it as their creator
    (subscription.md), the same id the token's ``oid`` claim carries."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, app_id))


class GraphSubscriptions:
    """Every live Graph subscription, by id. All methods expect ``store.lock`` to be held."""

    def __init__(self, face: GraphFace) -> None:
        self.face = face
        self._by_id: dict[str, GraphSubscription] = {}

    # --- lookups ------------------------------------------------------------------------------
    def live(self) -> list[GraphSubscription]:
        """Every subscription not expired on the simulator clock (expired ones are dropped)."""
        now = self.face.clock.now()
        for gone in [s for s in self._by_id.values() if s.expires <= now]:
            del self._by_id[gone.id]
        return list(self._by_id.values())

    def get(self, subscription_id: str) -> GraphSubscription | None:
        """A live subscription by id."""
        found = self._by_id.get(subscription_id.lower())
        if found is not None and found.expires <= self.face.clock.now():
            del self._by_id[found.id]
            return None
        return found

    def exists(self, subscription_id: str) -> bool:
        """Whether a subscription is still live."""
        return self.get(subscription_id) is not None

    def owned(self, ctx: GraphContext) -> GraphSubscription:
        """The subscription ``{id}`` names, if the calling application made it (404 otherwise)
        and may still read its mailbox (403 otherwise)."""
        found = self.get(ctx.params["id"])
        if found is None or found.app_id != ctx.principal.app_id:
            raise GraphError(
                404, "ResourceNotFound", f"The object '{ctx.params['id']}' was not found."
            )
        ctx.principal.require_mailbox(found.mailbox.smtp)
        return found

    # --- lifecycle --------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Once per delivery round: expiry, removal of subscriptions whose application lost
        access to the mailbox, reauthorization challenges and pauses, ``missed`` notifications
        that fell due, and new changes turned into notifications."""
        settings = self.face.settings
        wall = self.face.clock.now()
        for subscription in self.live():
            if not self._still_allowed(subscription):
                self.remove([subscription.id])
                continue
            remaining = (subscription.expires - wall).total_seconds()
            if (
                subscription.lifecycle_url is not None
                and remaining <= settings.reauthorize_notice_s
                and now - subscription.challenged_at >= settings.reauthorize_every_s
            ):
                self.challenge(subscription, now)
            opened = subscription.challenge_open_since
            if opened is not None and now - opened >= settings.reauthorize_grace_s:
                subscription.paused = True
            if subscription.missed:
                subscription.missed = False
                self._lifecycle(subscription, "missed")
            self._collect(subscription)

    def _still_allowed(self, subscription: GraphSubscription) -> bool:
        """Whether the subscription's application may still read its mailbox (its roles and
        access policy can change after the subscription was made)."""
        app = self.face.auth.application(subscription.app_id)
        if app is None or not app.roles & MAIL_ROLES:
            return False
        return "*" in app.mailboxes or subscription.mailbox.smtp.lower() in app.mailboxes

    def _collect(self, subscription: GraphSubscription) -> None:
        mailbox = subscription.mailbox
        if not mailbox.events.valid_position(subscription.position, mailbox.seq):
            # Events the subscription never read fell out of the log: they are lost.
            subscription.position = mailbox.seq
            subscription.missed = True
            return
        events = mailbox.events.after(subscription.position)
        if not events:
            return
        subscription.position = events[-1].seq
        if subscription.paused:
            return
        tenant = self.face.settings.tenant_id
        for change in notifications.changes(subscription, events):
            body = notifications.change_notification(subscription, change, tenant)
            self.face.delivery.enqueue(subscription.notification_url, subscription.id, body)

    def _lifecycle(self, subscription: GraphSubscription, event: str) -> bool:
        if subscription.lifecycle_url is None:
            return False
        body = notifications.lifecycle_notification(
            subscription, event, self.face.settings.tenant_id
        )
        self.face.delivery.enqueue(
            subscription.lifecycle_url, subscription.id, body, lifecycle=True
        )
        return True

    def challenge(self, subscription: GraphSubscription, now: float) -> None:
        """Send ``reauthorizationRequired``; unanswered, it pauses notifications after the grace
        time."""
        subscription.challenged_at = now
        if subscription.challenge_open_since is None:
            subscription.challenge_open_since = now
        self._lifecycle(subscription, "reauthorizationRequired")

    def discard(self, subscription_id: str) -> None:
        """Forget a subscription without telling its client (it asked for the removal)."""
        self._by_id.pop(subscription_id, None)

    def mark_missed(self, subscription_id: str) -> None:
        """Notifications of this subscription were lost: a ``missed`` is due."""
        found = self.get(subscription_id)
        if found is not None:
            found.missed = True

    def remove(self, ids: list[str] | None = None) -> list[str]:
        """Remove subscriptions (all when None) as the service would, each with a
        ``subscriptionRemoved`` lifecycle notification; returns the ids removed."""
        chosen = self._choose(ids)
        for subscription in chosen:
            self._lifecycle(subscription, "subscriptionRemoved")
            del self._by_id[subscription.id]
        return [s.id for s in chosen]

    def lifecycle(self, event: str, ids: list[str] | None = None) -> list[str]:
        """Send a lifecycle event to subscriptions (all when None) now; ``subscriptionRemoved``
        also removes them. Returns the ids concerned."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}; known: {list(LIFECYCLE_EVENTS)}")
        if event == "subscriptionRemoved":
            return self.remove(ids)
        chosen = self._choose(ids)
        now = self.face.clock.monotonic()
        for subscription in chosen:
            if event == "reauthorizationRequired":
                self.challenge(subscription, now)
            else:
                self._lifecycle(subscription, event)
        return [s.id for s in chosen]

    def _choose(self, ids: list[str] | None) -> list[GraphSubscription]:
        if ids is None:
            return self.live()
        chosen = []
        for sid in ids:
            found = self.get(sid)
            if found is None:
                raise KeyError(f"no Graph subscription {sid!r}")
            chosen.append(found)
        return chosen

    def describe(self) -> list[dict[str, Any]]:
        """The live subscriptions, for tests: the entity plus mailbox and delivery state."""
        return [
            s.json()
            | {
                "mailbox": s.mailbox.smtp,
                "immutableIds": s.immutable,
                "paused": s.paused,
                "challengeOpen": s.challenge_open_since is not None,
            }
            for s in self.live()
        ]

    # --- creation ---------------------------------------------------------------------------
    def check_room(
        self, app_id: str, mailbox: Mailbox, folder: int | None, kinds: frozenset[str]
    ) -> None:
        """409 for a duplicate of one of the app's subscriptions, 403 over the mailbox quota."""
        live = self.live()
        for other in live:
            if (
                other.app_id == app_id
                and other.mailbox is mailbox
                and other.folder == folder
                and other.change_types == kinds
            ):
                raise GraphError(
                    409,
                    "Conflict",
                    f"Subscription Id {other.id} already exists for the requested combination",
                )
        quota = self.face.settings.max_subscriptions_per_mailbox
        if sum(1 for s in live if s.mailbox is mailbox) >= quota:
            raise GraphError(
                403,
                "ExtensionError",
                f"The maximum number of subscriptions ({quota}) for this mailbox has been reached.",
            )

    def add(self, subscription: GraphSubscription) -> GraphSubscription:
        """Register a new subscription; it hears of changes from now on."""
        subscription.position = subscription.mailbox.seq
        subscription.challenged_at = self.face.clock.monotonic()
        self._by_id[subscription.id] = subscription
        return subscription


def routes() -> list[GraphRoute]:
    """The subscription routes (their handlers are in ``subscriptionapi``)."""
    return subscriptionapi.routes()


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """Control actions: the live subscriptions, the delivery record, removing subscriptions and
    sending lifecycle events."""

    def locked(action: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with face.store.lock:
                return action(*args, **kwargs)

        run.__doc__ = action.__doc__
        return run

    return {
        "subscriptions": locked(face.subscriptions.describe),
        "deliveries": locked(face.delivery.records),
        "remove_subscriptions": locked(face.subscriptions.remove),
        "lifecycle": locked(face.subscriptions.lifecycle),
    }
