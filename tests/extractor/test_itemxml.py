"""GetItem answers read straight from XML mean what exchangelib's object model made of them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from extractor.exchange import ITEM_FIELDS, MailboxReader
from extractor.itemxml import snapshot
from extractor.model import Address, ItemSnapshot
from mfr.ews import EwsConnection
from simulator import Simulator

T = "http://schemas.microsoft.com/exchange/services/2006/types"


def _oracle(item: Any) -> ItemSnapshot:
    """What exchangelib's objects say, converted field by field as the extractor did before."""

    def address(m: Any) -> Address | None:
        return None if m is None else Address(m.name, m.email_address, m.routing_type)

    def when(value: Any) -> datetime | None:
        if value is None:
            return None
        plain = datetime.fromtimestamp(value.timestamp(), tz=UTC)
        return plain.replace(microsecond=plain.microsecond // 1000 * 1000)

    flags = {0: "NotFlagged", 1: "Complete", 2: "Flagged"}
    return ItemSnapshot(
        item_id=item.id, parent_folder_id=item.parent_folder_id.id, item_class=item.item_class,
        change_key=item.changekey, sensitivity=item.sensitivity, subject=item.subject,
        sender=address(item.sender), author=address(item.author),
        to_recipients=tuple(address(m) for m in item.to_recipients or ()),  # type: ignore[misc]
        cc_recipients=tuple(address(m) for m in item.cc_recipients or ()),  # type: ignore[misc]
        bcc_recipients=tuple(address(m) for m in item.bcc_recipients or ()),  # type: ignore[misc]
        datetime_sent=when(item.datetime_sent), datetime_received=when(item.datetime_received),
        datetime_created=when(item.datetime_created),
        last_modified_time=when(item.last_modified_time), size=item.size,
        importance=item.importance, is_read=item.is_read,
        flag_status=None if item.flag_status is None else flags.get(item.flag_status),
        categories=tuple(item.categories or ()), has_attachments=item.has_attachments,
        internet_message_id=item.message_id,
        conversation_id=item.conversation_id.id if item.conversation_id else None,
        search_key=base64.b64encode(item.search_key).decode() if item.search_key else None,
    )


def test_snapshots_equal_what_exchangelib_reads_from_the_same_items(
    sim: Simulator, connection: EwsConnection, smtp: str
) -> None:
    """For varied messages, the lxml reading and exchangelib's objects agree on every field."""
    ids = [
        sim.control.create_item(smtp, "inbox", subject="plain"),
        sim.control.create_item(
            smtp, "inbox", subject="Grüße <&> ", sender={"name": "Ann", "email": "a@x.example"},
            to=["b@x.example", {"name": "Cé", "email": "c@x.example"}], cc=["d@x.example"],
            categories=["Blue", "Rot"], is_read=True, flag="Flagged", importance="High",
            sensitivity="Confidential", has_attachments=True, size=4321,
            sent="2026-01-02T03:04:05.678Z", internet_message_id="<m1@x.example>"),
        sim.control.create_item(smtp, "inbox", subject="", flag="Complete", categories=[]),
    ]
    reader = MailboxReader(connection, smtp)
    ours = reader.items(ids)
    account = connection.account(smtp)
    theirs = {i.id: _oracle(i) for i in account.fetch(ids=[(i, None) for i in ids],
                                                      only_fields=list(ITEM_FIELDS))}
    assert ours == theirs
    assert set(ours) == set(ids)


def test_edge_values_read_as_exchangelib_reads_them() -> None:
    """Empty text is absent, a date without zone is UTC, odd values do not break the item."""
    xml = f"""<t:Message xmlns:t="{T}">
      <t:ItemId Id="i1" ChangeKey="ck"/><t:ParentFolderId Id="f1"/>
      <t:ItemClass>IPM.Note</t:ItemClass><t:Subject></t:Subject>
      <t:DateTimeSent>2026-01-02T03:04:05.1234567Z</t:DateTimeSent>
      <t:DateTimeReceived>2026-01-02T04:04:05+01:00</t:DateTimeReceived>
      <t:DateTimeCreated>2026-01-02T03:04:05</t:DateTimeCreated>
      <t:LastModifiedTime>yesterday</t:LastModifiedTime>
      <t:Size>many</t:Size><t:IsRead>on</t:IsRead><t:HasAttachments>maybe</t:HasAttachments>
      <t:Categories><t:String>a</t:String><t:String/><t:String>b</t:String></t:Categories>
      <t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x300B" PropertyType="Binary"/>
        <t:Value>AAEC</t:Value></t:ExtendedProperty>
      <t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="4240" PropertyType="Integer"/>
        <t:Value>2</t:Value></t:ExtendedProperty>
      <t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x0E07" PropertyType="Integer"/>
        <t:Value>9</t:Value></t:ExtendedProperty>
      <t:Sender><t:Mailbox><t:EmailAddress>s@x.example</t:EmailAddress></t:Mailbox></t:Sender>
      <t:ConversationId Id="conv"/>
    </t:Message>"""
    item = snapshot(etree.fromstring(xml))
    assert (item.item_id, item.change_key, item.parent_folder_id) == ("i1", "ck", "f1")
    assert item.subject is None
    assert item.datetime_sent == datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    assert item.datetime_received == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert item.datetime_created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (item.last_modified_time, item.size, item.has_attachments) == (None, None, None)
    assert item.is_read is True
    assert item.categories == ("a", "b")
    assert item.search_key == "AAEC"
    assert item.flag_status == "Flagged"  # 4240 is 0x1090, written in decimal
    assert item.sender == Address(None, "s@x.example", None)
    assert (item.author, item.to_recipients, item.conversation_id) == (None, (), "conv")
