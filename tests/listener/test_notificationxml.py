"""EWS notifications read straight from XML make the ChangeEvents exchangelib's objects made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exchangelib.properties import ModifiedEvent, Notification, OldTimestampEvent, StatusEvent
from lxml import etree

from listener.events import change_events
from listener.notificationxml import read_notification

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
NAMES = {"CopiedEvent": "Copied", "CreatedEvent": "Created", "DeletedEvent": "Deleted",
         "ModifiedEvent": "Modified", "MovedEvent": "Moved", "NewMailEvent": "NewMail",
         "FreeBusyChangedEvent": "FreeBusyChanged"}
VARIED = f"""<m:Notification xmlns:m="{M}" xmlns:t="{T}">
  <t:SubscriptionId>sub-1</t:SubscriptionId><t:PreviousWatermark>w0</t:PreviousWatermark>
  <t:MoreEvents>true</t:MoreEvents>
  <t:CreatedEvent><t:Watermark>w1</t:Watermark><t:TimeStamp>2026-12-03T10:00:00Z</t:TimeStamp>
    <t:ItemId Id="i1" ChangeKey="ck1"/><t:ParentFolderId Id="inbox" ChangeKey="p"/></t:CreatedEvent>
  <t:NewMailEvent><t:Watermark>w2</t:Watermark><t:TimeStamp>2026-12-03T11:00:00+01:00</t:TimeStamp>
    <t:ItemId Id="i1"/><t:ParentFolderId Id="inbox"/></t:NewMailEvent>
  <t:ModifiedEvent><t:Watermark>w3</t:Watermark><t:TimeStamp>2026-12-03T10:00:02Z</t:TimeStamp>
    <t:FolderId Id="inbox" ChangeKey="fk"/><t:ParentFolderId Id="root"/>
    <t:UnreadCount>7</t:UnreadCount></t:ModifiedEvent>
  <t:ModifiedEvent><t:Watermark>w4</t:Watermark><t:TimeStamp>2026-12-03T10:00:03Z</t:TimeStamp>
    <t:ItemId Id="i2" ChangeKey="ck2"/><t:ParentFolderId Id="inbox"/></t:ModifiedEvent>
  <t:MovedEvent><t:Watermark>w5</t:Watermark><t:TimeStamp>2026-12-03T10:00:04Z</t:TimeStamp>
    <t:ItemId Id="i3" ChangeKey="ck3"/><t:ParentFolderId Id="archive"/>
    <t:OldItemId Id="i2" ChangeKey="ck2"/><t:OldParentFolderId Id="inbox"/></t:MovedEvent>
  <t:CopiedEvent><t:Watermark>w6</t:Watermark><t:TimeStamp>2026-12-03T10:00:05Z</t:TimeStamp>
    <t:FolderId Id="f9"/><t:ParentFolderId Id="root"/>
    <t:OldFolderId Id="f8"/><t:OldParentFolderId Id="drafts"/></t:CopiedEvent>
  <t:DeletedEvent><t:Watermark>w7</t:Watermark><t:TimeStamp>2026-12-03T10:00:06Z</t:TimeStamp>
    <t:ItemId Id="i4"/><t:ParentFolderId Id="inbox"/></t:DeletedEvent>
  <t:FreeBusyChangedEvent><t:Watermark>w8</t:Watermark>
    <t:TimeStamp>2026-12-03T10:00:07Z</t:TimeStamp><t:ItemId Id="c1"/>
    <t:ParentFolderId Id="calendar"/></t:FreeBusyChangedEvent>
  <t:StatusEvent><t:Watermark>w9</t:Watermark></t:StatusEvent>
  <t:DeletedEvent><t:Watermark>w10</t:Watermark><t:TimeStamp>not a time</t:TimeStamp>
    <t:FolderId Id="f7"/><t:ParentFolderId Id="root"/></t:DeletedEvent>
</m:Notification>"""


def _oracle(mailbox: str, source: str, notification: Any) -> list[dict[str, Any]]:
    """The ChangeEvents as the listener made them from exchangelib's objects before."""
    def ident(element: Any) -> str | None:
        return None if element is None else element.id

    def when(value: Any) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(value.timestamp(), UTC)

    made = []
    for event in notification.events:
        if isinstance(event, StatusEvent):
            continue
        is_item = event.item_id is not None
        target = event.item_id if is_item else event.folder_id
        moved = isinstance(event, OldTimestampEvent)
        made.append({
            "mailbox": mailbox, "event_type": NAMES[type(event).__name__],
            "target": "Item" if is_item else "Folder", "id": ident(target),
            "change_key": target.changekey, "parent_folder_id": ident(event.parent_folder_id),
            "old_id": (ident(event.old_item_id) if is_item else ident(event.old_folder_id))
            if moved else None,
            "old_parent_folder_id": ident(event.old_parent_folder_id) if moved else None,
            "unread_count": event.unread_count if isinstance(event, ModifiedEvent) else None,
            "watermark": event.watermark, "previous_watermark": notification.previous_watermark,
            "subscription_id": notification.subscription_id, "source": source, "reason": None,
            "event_time": when(event.timestamp)})
    return made


def test_every_event_kind_reads_as_exchangelib_read_it() -> None:
    """Every kind of NotificationType, items and folders, moves and copies with their old ids,
    unread counts, time zones, a time that does not parse: the same ChangeEvents either way,
    and the watermark to resume from is the last one, a StatusEvent's included."""
    elem = etree.fromstring(VARIED)
    notification = read_notification(elem)
    ours = change_events("a@x.example", "Streaming", notification)
    theirs = Notification.from_xml(elem=elem, account=None)  # this clears elem
    expected = _oracle("a@x.example", "Streaming", theirs)
    assert [{k: v for k, v in e.items() if k not in ("event_id", "received_time")}
            for e in ours.events] == expected
    assert len(expected) == 9
    assert ours.watermark == "w10"
    assert notification.more_events is True


def test_unknown_elements_and_kinds_are_skipped() -> None:
    """An event kind a later Exchange may add, and foreign elements, are passed over."""
    elem = etree.fromstring(
        f'<m:Notification xmlns:m="{M}" xmlns:t="{T}" xmlns:x="urn:x">'
        "<t:SubscriptionId>s</t:SubscriptionId><x:Extra/><!-- a comment -->"
        "<t:FutureEvent><t:Watermark>w1</t:Watermark></t:FutureEvent>"
        '<t:CreatedEvent><t:Watermark>w2</t:Watermark><t:ItemId Id="i"/></t:CreatedEvent>'
        "</m:Notification>")
    notification = read_notification(elem)
    assert [e.kind for e in notification.events] == ["Created"]
    assert notification.subscription_id == "s"
    assert notification.previous_watermark is None
