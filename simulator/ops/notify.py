"""Subscribe, Unsubscribe and GetEvents (pull notifications)."""

from __future__ import annotations

from urllib.parse import urlparse

from lxml import etree

from simulator.context import Context
from simulator.errors import EwsError
from simulator.events import EventType
from simulator.ids import decode_watermark, mint_watermark
from simulator.mailbox import Mailbox
from simulator.notifications import render, take
from simulator.ops.common import bounded_int, each, required
from simulator.shapes import requested_ids
from simulator.soap import child, children, local, m, response_root, sub, text_of
from simulator.subscriptions import STREAMING_IDLE_TIMEOUT_S, Kind, Subscription

_KINDS = {
    "PullSubscriptionRequest": Kind.PULL,
    "PushSubscriptionRequest": Kind.PUSH,
    "StreamingSubscriptionRequest": Kind.STREAMING,
}
NOT_FOUND = "ErrorSubscriptionNotFound"


def _event_types(spec: etree._Element) -> frozenset[EventType]:
    names = [
        e.text.strip()
        for e in children(required(child(spec, "EventTypes"), "EventTypes"), "EventType")
        if e.text
    ]
    types: set[EventType] = set()
    for name in names:
        try:
            types.add(EventType(name.removesuffix("Event")))
        except ValueError as exc:
            raise EwsError(
                "ErrorSchemaValidation", f"unknown event type {name!r}", fault=True
            ) from exc
    if not types:
        raise EwsError("ErrorSchemaValidation", "EventTypes is empty", fault=True)
    return frozenset(types)


def _folders(ctx: Context, spec: etree._Element) -> tuple[Mailbox, frozenset[int] | None]:
    if spec.get("SubscribeToAllFolders", "false").strip().lower() in ("true", "1"):
        return ctx.target(), None
    holder = required(child(spec, "FolderIds"), "FolderIds")
    resolved = [ctx.folder(element) for element in requested_ids(holder)]
    if not resolved:
        raise EwsError("ErrorSchemaValidation", "FolderIds is empty", fault=True)
    if len({mailbox.number for mailbox, _ in resolved}) > 1:
        raise EwsError(
            "ErrorInvalidSubscriptionRequest",
            "A subscription can only cover folders of one mailbox.",
        )
    return resolved[0][0], frozenset(folder.serial for _, folder in resolved)


def _start(mailbox: Mailbox, spec: etree._Element) -> int:
    watermark = text_of(spec, "Watermark")
    if not watermark:
        return mailbox.seq
    decoded = decode_watermark(watermark)
    mailbox.events.expire(mailbox.now())
    if (
        decoded is None
        or decoded[0] != mailbox.number
        or not mailbox.events.valid_position(decoded[1], mailbox.seq)
    ):
        raise EwsError(
            "ErrorInvalidWatermark",
            "The watermark used for creating this subscription was not found.",
        )
    return decoded[1]


def _subscription(ctx: Context, spec: etree._Element, kind: Kind) -> Subscription:
    mailbox, folders = _folders(ctx, spec)
    event_types = _event_types(spec)
    now = ctx.store.clock.monotonic()
    if ctx.store.subscriptions.count_for_budget(ctx.budget, now) >= ctx.limits.max_subscriptions:
        raise EwsError(
            "ErrorExceededSubscriptionCount",
            "You have exceeded the maximum number of subscriptions that are allowed to be active "
            "at the same time.",
        )
    position = mailbox.seq if kind is Kind.STREAMING else _start(mailbox, spec)
    timeout_s = STREAMING_IDLE_TIMEOUT_S
    url = None
    frequency = 30
    if kind is Kind.PULL:
        timeout_s = 60.0 * bounded_int(spec, "Timeout", 30, 1, 1440)
    elif kind is Kind.PUSH:
        frequency = bounded_int(spec, "StatusFrequency", 30, 1, 1440)
        url = text_of(spec, "URL") or ""
        if urlparse(url).scheme not in ("http", "https"):
            raise EwsError(
                "ErrorInvalidPushSubscriptionUrl", "The push subscription URL is invalid."
            )
        timeout_s = float("inf")
    return Subscription(
        id=ctx.store.subscriptions.new_id(ctx.backend),
        kind=kind,
        mailbox=mailbox,
        owner=ctx.account.name.lower(),
        budget=ctx.budget,
        backend=ctx.backend,
        folders=folders,
        event_types=event_types,
        position=position,
        expires_at=now + timeout_s,
        timeout_s=timeout_s,
        url=url,
        status_frequency_min=frequency,
    )


def subscribe(ctx: Context, request: etree._Element) -> etree._Element:
    """Subscribe: a pull, push or streaming subscription to one mailbox's folders (or all)."""
    specs = [e for e in request if isinstance(e.tag, str) and local(e) in _KINDS]
    if len(specs) != 1:
        raise EwsError(
            "ErrorSchemaValidation", "Subscribe needs one subscription request.", fault=True
        )
    spec = specs[0]
    root, container = response_root("Subscribe")

    def answer(message: etree._Element, _: object) -> None:
        subscription = _subscription(ctx, spec, _KINDS[local(spec)])
        ctx.store.subscriptions.add(subscription)
        sub(message, m("SubscriptionId"), subscription.id)
        if subscription.kind is not Kind.STREAMING:
            watermark = mint_watermark(subscription.mailbox.number, subscription.position)
            sub(message, m("Watermark"), watermark)

    each(container, "Subscribe", [spec], answer)
    return root


def find(ctx: Context, subscription_id: str) -> Subscription:
    """A subscription this caller may use from the back-end the request reached."""
    subscription = ctx.store.subscriptions.get(subscription_id, ctx.store.clock.monotonic())
    if subscription is None or subscription.backend != ctx.backend:
        raise EwsError(NOT_FOUND, "The specified subscription was not found.")
    if subscription.owner != ctx.account.name.lower():
        raise EwsError(
            "ErrorSubscriptionAccessDenied", "The subscription belongs to another account."
        )
    return subscription


def unsubscribe(ctx: Context, request: etree._Element) -> etree._Element:
    """Unsubscribe: end a subscription."""
    subscription_id = text_of(request, "SubscriptionId") or ""
    root, container = response_root("Unsubscribe")

    def answer(message: etree._Element, _: object) -> None:
        ctx.store.subscriptions.remove(find(ctx, subscription_id).id)

    each(container, "Unsubscribe", [subscription_id], answer)
    return root


def get_events(ctx: Context, request: etree._Element) -> etree._Element:
    """GetEvents: the events of a pull subscription after the watermark given (50 at most)."""
    subscription_id = text_of(request, "SubscriptionId") or ""
    watermark = text_of(request, "Watermark") or ""
    root, container = response_root("GetEvents")

    def answer(message: etree._Element, _: object) -> None:
        subscription = find(ctx, subscription_id)
        if subscription.kind is not Kind.PULL:
            raise EwsError("ErrorInvalidSubscription", "This is not a pull subscription.")
        mailbox = subscription.mailbox
        mailbox.events.expire(mailbox.now())
        decoded = decode_watermark(watermark)
        if (
            decoded is None
            or decoded[0] != mailbox.number
            or not mailbox.events.valid_position(decoded[1], mailbox.seq)
        ):
            raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.")
        subscription.position = decoded[1]
        subscription.touch(ctx.store.clock.monotonic())
        events, more, previous = take(subscription, status_when_idle=True)
        render(message, subscription, events, more, previous, m("Notification"))

    each(container, "GetEvents", [subscription_id], answer)
    return root
