"""Notification elements (shared by GetEvents, GetStreamingEvents and push), and reading events
off a subscription.

A notification carries at most 50 events, as getevents-operation.md describes; MoreEvents says more
are waiting. With nothing to report, pull and push send a StatusEvent with the current watermark.
"""

from __future__ import annotations

from lxml import etree

from simulator.events import Event, EventType
from simulator.ids import mint_watermark
from simulator.soap import ews_datetime, sub, t
from simulator.subscriptions import Subscription

MAX_EVENTS_PER_NOTIFICATION = 50


def _event(parent: etree._Element, subscription: Subscription, event: Event) -> None:
    mailbox = subscription.mailbox
    element = sub(parent, t(f"{event.type.value}Event"))
    sub(element, t("Watermark"), mint_watermark(mailbox.number, event.seq))
    sub(element, t("TimeStamp"), ews_datetime(event.time))
    sub(element, t("FolderId" if event.is_folder else "ItemId"), Id=event.object_id)
    sub(element, t("ParentFolderId"), Id=event.parent_id)
    if event.type in (EventType.MOVED, EventType.COPIED):
        sub(element, t("OldFolderId" if event.is_folder else "OldItemId"), Id=event.old_id or "")
        sub(element, t("OldParentFolderId"), Id=event.old_parent_id or "")
    if event.type is EventType.MODIFIED and event.unread_count is not None:
        sub(element, t("UnreadCount"), str(event.unread_count))


def take(subscription: Subscription, *, status_when_idle: bool) -> tuple[list[Event], bool, int]:
    """Read up to 50 pending events and advance the subscription past them.

    Returns (events, more waiting, previous position). With nothing pending the position moves to
    the mailbox's current one (what a StatusEvent's watermark reports) when ``status_when_idle``.
    """
    previous = subscription.position
    pending = subscription.pending()
    events = pending[:MAX_EVENTS_PER_NOTIFICATION]
    if events:
        subscription.position = events[-1].seq
    elif status_when_idle:
        subscription.position = subscription.mailbox.seq
    return events, len(pending) > len(events), previous


def render(
    parent: etree._Element,
    subscription: Subscription,
    events: list[Event],
    more: bool,
    previous: int,
    tag: str,
) -> etree._Element:
    """A Notification (a StatusEvent when ``events`` is empty) appended to ``parent``; ``tag`` is
    m:Notification in GetEvents and SendNotification, t:Notification in GetStreamingEvents."""
    mailbox = subscription.mailbox
    notification = sub(parent, tag)
    sub(notification, t("SubscriptionId"), subscription.id)
    sub(notification, t("PreviousWatermark"), mint_watermark(mailbox.number, previous))
    sub(notification, t("MoreEvents"), "true" if more else "false")
    if not events:
        status = sub(notification, t("StatusEvent"))
        sub(status, t("Watermark"), mint_watermark(mailbox.number, subscription.position))
    for event in events:
        _event(notification, subscription, event)
    return notification
