"""The listener's Graph subscription calls: create, renew, reauthorize, delete, and find its own,
every one through ``mfr.graph.GraphClient`` (token, per-mailbox throttle, retries, errors).

- One subscription per mailbox on ``users/{mailbox}/messages`` (all its mail, whatever folder:
  outlook-change-notifications-overview.md), changeType ``created,updated,deleted``, created with
  ``Prefer: IdType="ImmutableId"`` so its notifications name messages by ids that survive moves
  (outlook-immutable-id.md), with a ``lifecycleNotificationUrl`` (it cannot be added later:
  change-notifications-lifecycle-events.md) and a ``clientState`` (the caller's secret).
- ``expirationDateTime`` is written in UTC; Outlook messages allow at most 4,230 minutes
  (change-notifications-subscription-lifetime.md), and renewal is a PATCH of that property alone
  (subscription-update.md).
- A create that Graph answers 409 ("Subscription Id <id> already exists for the requested
  combination", subscription-post-subscriptions.md) names a subscription of this application on
  the same mailbox: one of ours that survived (a create whose answer was lost). It is deleted
  and the create sent once more.
- The listener's own subscriptions are those whose ``notificationUrl`` is its own: another
  deployment of the same application (another URL) is left alone.
- Every subscription call is charged to one throttling budget of the application, not to the
  mailbox it concerns: Graph limits the subscription resource per application and tenant
  (includes/throttling-subscription-services.md), and a 429 on one create must hold back the
  others rather than let them fail in turn.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from mfr.graph import GraphClient
from mfr.graph.errors import GraphNotFoundError, GraphRequestRejectedError

CHANGE_TYPES = "created,updated,deleted"
IMMUTABLE_IDS = {"Prefer": 'IdType="ImmutableId"'}
APP_BUDGET = "(subscriptions)"  # the throttle budget of every subscription call
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RESOURCE = re.compile(r"^/?users/([^/]+)/messages$", re.IGNORECASE)


@dataclass(frozen=True)
class Held:
    """A subscription Graph holds: its id and when it expires."""

    subscription_id: str
    expires: datetime


def graph_time(moment: datetime) -> str:
    """A DateTimeOffset in UTC, as Graph's examples write them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expiry(body: dict[str, object], fallback: datetime) -> datetime:
    raw = body.get("expirationDateTime")
    try:
        return datetime.fromisoformat(str(raw)) if raw else fallback
    except ValueError:
        return fallback


def resource_of(mailbox: str) -> str:
    """The subscription resource of a mailbox's messages."""
    return f"users/{quote(mailbox, safe='@')}/messages"


class GraphSubscriber:
    """Subscription calls for one listener (one notification URL)."""

    def __init__(self, client: GraphClient, notification_url: str, lifecycle_url: str) -> None:
        self.client = client
        self.notification_url = notification_url
        self.lifecycle_url = lifecycle_url

    def create(self, mailbox: str, client_state: str, expires: datetime) -> Held:
        """A new subscription to the mailbox's messages (Graph validates both URLs first)."""
        body = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "resource": resource_of(mailbox),
            "expirationDateTime": graph_time(expires),
            "clientState": client_state,
            "latestSupportedTlsVersion": "v1_2",
        }
        doing = f"create subscription for {mailbox}"
        try:
            answer = self.client.call(
                "POST",
                "subscriptions",
                mailbox=APP_BUDGET,
                doing=doing,
                json=body,
                headers=IMMUTABLE_IDS,
            )
        except GraphRequestRejectedError as exc:
            found = _UUID.search(str(exc)) if exc.status == 409 else None
            if found is None:
                raise
            self.delete(mailbox, found.group(0))
            answer = self.client.call(
                "POST",
                "subscriptions",
                mailbox=APP_BUDGET,
                doing=doing,
                json=body,
                headers=IMMUTABLE_IDS,
            )
        created = answer.json()
        return Held(str(created["id"]), _expiry(created, expires))

    def renew(self, mailbox: str, subscription_id: str, expires: datetime) -> datetime:
        """Extend the subscription (also answers a reauthorization challenge); its new expiry."""
        answer = self.client.call(
            "PATCH",
            f"subscriptions/{subscription_id}",
            mailbox=APP_BUDGET,
            doing=f"renew subscription of {mailbox}",
            json={"expirationDateTime": graph_time(expires)},
        )
        return _expiry(answer.json(), expires)

    def reauthorize(self, mailbox: str, subscription_id: str) -> None:
        """Answer a reauthorizationRequired challenge without changing the expiry."""
        self.client.call(
            "POST",
            f"subscriptions/{subscription_id}/reauthorize",
            mailbox=APP_BUDGET,
            doing=f"reauthorize subscription of {mailbox}",
        )

    def delete(self, mailbox: str, subscription_id: str) -> None:
        """Delete a subscription; one already gone is fine."""
        with contextlib.suppress(GraphNotFoundError):
            self.client.call(
                "DELETE",
                f"subscriptions/{subscription_id}",
                mailbox=APP_BUDGET,
                doing=f"delete subscription of {mailbox}",
            )

    def own(self) -> list[tuple[str, str]]:
        """(subscription id, mailbox or '') of every live subscription of this application
        that delivers to this listener's notification URL."""
        mine = []
        for page in self.client.pages(
            "subscriptions", mailbox=APP_BUDGET, doing="list subscriptions"
        ):
            for entry in page.get("value") or []:
                if not isinstance(entry, dict):
                    continue
                if entry.get("notificationUrl") != self.notification_url:
                    continue
                match = _RESOURCE.match(str(entry.get("resource") or ""))
                mine.append(
                    (str(entry.get("id")), unquote(match.group(1)).lower() if match else "")
                )
        return mine
