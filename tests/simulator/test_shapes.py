"""FindItem and SyncFolderItems return only what Microsoft's pages say they can (issue 17);
GetItem returns the rest."""

from __future__ import annotations

from lxml import etree

from simulator import Simulator
from tests.simulator.raw import T, code, envelope, post

ALL = (
    "<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:AdditionalProperties>"
    "<t:FieldURI FieldURI='item:Body'/><t:FieldURI FieldURI='message:ToRecipients'/>"
    "<t:FieldURI FieldURI='message:CcRecipients'/></t:AdditionalProperties></m:ItemShape>"
)
# Never in a FindItem or SyncFolderItems answer, even when asked for.
LEFT_OUT = {"Body", "Attachments", "ToRecipients", "CcRecipients", "BccRecipients"}


def _message(sim: Simulator, smtp: str, body: str) -> etree._Element:
    response = post(sim, envelope(body, impersonate=smtp))
    assert code(response) == "NoError", response.text
    found = etree.fromstring(response.content).find(f".//{{{T}}}Message")
    assert found is not None, response.text
    return found


def _names(message: etree._Element) -> set[str]:
    return {etree.QName(e).localname for e in message}


def _an_addressed_message(sim: Simulator, smtp: str) -> str:
    return sim.control.create_item(
        smtp, subject="addressed", sender="bob@x.example", to=["carol@x.example"],
        cc=["dave@x.example"],
    )  # fmt: skip


def test_find_item_returns_no_body_and_no_recipient_lists(sim: Simulator, smtp: str) -> None:
    """finditem-operation.md: FindItem "does not return any of the message body formats or the
    recipient lists" but "will return a recipient summary" (DisplayTo, DisplayCc), even with
    AllProperties and the properties named in AdditionalProperties."""
    _an_addressed_message(sim, smtp)
    found = _message(
        sim,
        smtp,
        f"<m:FindItem Traversal='Shallow'>{ALL}<m:ParentFolderIds>"
        "<t:DistinguishedFolderId Id='inbox'/></m:ParentFolderIds></m:FindItem>",
    )
    names = _names(found)
    assert not names & LEFT_OUT
    assert {"DisplayTo", "DisplayCc", "Subject", "Sender"} <= names
    assert found.findtext(f"{{{T}}}DisplayTo")


def test_sync_folder_items_returns_no_body_and_no_recipient_lists(
    sim: Simulator, smtp: str
) -> None:
    """syncfolderitems-operation.md: SyncFolderItems "cannot return properties like Body or
    Attachments"; its AllProperties answer in how-to-synchronize-items-by-using-ews-in-exchange.md
    carries DisplayTo and DisplayCc and no recipient lists."""
    _an_addressed_message(sim, smtp)
    found = _message(
        sim,
        smtp,
        f"<m:SyncFolderItems>{ALL}<m:SyncFolderId><t:DistinguishedFolderId Id='inbox'/>"
        "</m:SyncFolderId><m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>",
    )
    names = _names(found)
    assert not names & LEFT_OUT
    assert {"ItemId", "ParentFolderId", "ItemClass", "Subject", "DisplayTo", "Sender"} <= names


def test_get_item_returns_what_the_summaries_leave_out(sim: Simulator, smtp: str) -> None:
    """getitem-operation.md: GetItem is where an item's details come from, recipients included."""
    item_id = _an_addressed_message(sim, smtp)
    found = _message(
        sim,
        smtp,
        f"<m:GetItem>{ALL}<m:ItemIds><t:ItemId Id='{item_id}'/></m:ItemIds></m:GetItem>",
    )
    assert {"Body", "ToRecipients", "CcRecipients"} <= _names(found)
