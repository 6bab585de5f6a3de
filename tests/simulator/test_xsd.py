"""Every operation's responses, successes and errors, validate against Microsoft's messages.xsd."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from simulator import Simulator
from tests.simulator.conftest import schema_dir
from tests.simulator.raw import SOAP, M, basic, envelope, post

FOLDER = "<t:DistinguishedFolderId Id='{name}'/>"
BAD_ID = "<t:FolderId Id='AAAAAAAAAAAAAAAAAAAAAAAAAAAA'/>"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """messages.xsd, loaded offline."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(schema_dir() / "messages.xsd"), parser))


def _validate(schema: etree.XMLSchema, document: bytes, what: str) -> str:
    """Validate the body of a response document; fail on its first invalid element."""
    root = etree.fromstring(document)
    body = root.find(f"{{{SOAP}}}Body")
    assert body is not None, what
    [payload] = list(body)
    detached = etree.fromstring(etree.tostring(payload))
    if not schema.validate(detached):
        first = str(schema.error_log).splitlines()[0]
        pytest.fail(f"{what}: {first}")
    found = detached.find(f".//{{{M}}}ResponseCode")
    return "" if found is None else str(found.text)


def _operations(sim: Simulator, smtp: str) -> list[tuple[str, str]]:
    item = sim.control.create_item(
        smtp, subject="sample", categories=["Blue"], sender="x@y.example"
    )
    inbox = FOLDER.format(name="inbox")
    pull = (
        "<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds>"
        + inbox
        + "</t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>"
        "<t:Timeout>5</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>"
    )
    response = post(sim, envelope(pull, impersonate=smtp))
    subscription = etree.fromstring(response.content).findtext(f".//{{{M}}}SubscriptionId")
    watermark = etree.fromstring(response.content).findtext(f".//{{{M}}}Watermark")
    shape = "<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:AdditionalProperties>"
    shape += "<t:ExtendedFieldURI PropertyTag='0x300B' PropertyType='Binary'/>"
    shape += "</t:AdditionalProperties></m:ItemShape>"
    folder_shape = "<m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape>"
    return [
        ("GetFolder", f"<m:GetFolder>{folder_shape}<m:FolderIds>{inbox}</m:FolderIds>"
         "</m:GetFolder>"),
        ("GetFolder error", f"<m:GetFolder>{folder_shape}<m:FolderIds>{BAD_ID}</m:FolderIds>"
         "</m:GetFolder>"),
        ("FindFolder", f"<m:FindFolder Traversal='Deep'>{folder_shape}<m:IndexedPageFolderView "
         "MaxEntriesReturned='5' Offset='0' BasePoint='Beginning'/><m:ParentFolderIds>"
         f"{FOLDER.format(name='root')}</m:ParentFolderIds></m:FindFolder>"),
        ("FindFolder error", f"<m:FindFolder Traversal='Shallow'>{folder_shape}<m:ParentFolderIds>"
         f"{BAD_ID}</m:ParentFolderIds></m:FindFolder>"),
        ("GetItem", f"<m:GetItem>{shape}<m:ItemIds><t:ItemId Id='{item}'/></m:ItemIds>"
         "</m:GetItem>"),
        ("GetItem error", f"<m:GetItem>{shape}<m:ItemIds><t:ItemId Id='AAAA'/></m:ItemIds>"
         "</m:GetItem>"),
        ("FindItem", f"<m:FindItem Traversal='Shallow'>{shape}<m:IndexedPageItemView "
         f"MaxEntriesReturned='10' Offset='0' BasePoint='Beginning'/><m:ParentFolderIds>{inbox}"
         "</m:ParentFolderIds></m:FindItem>"),
        ("FindItem error", f"<m:FindItem Traversal='Shallow'>{shape}<m:ParentFolderIds>{BAD_ID}"
         "</m:ParentFolderIds></m:FindItem>"),
        ("SyncFolderHierarchy", f"<m:SyncFolderHierarchy>{folder_shape}<m:SyncFolderId>"
         f"{FOLDER.format(name='root')}</m:SyncFolderId></m:SyncFolderHierarchy>"),
        ("SyncFolderHierarchy error", f"<m:SyncFolderHierarchy>{folder_shape}<m:SyncState>bad"
         "</m:SyncState></m:SyncFolderHierarchy>"),
        ("SyncFolderItems", f"<m:SyncFolderItems>{shape}<m:SyncFolderId>{inbox}</m:SyncFolderId>"
         "<m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>"),
        ("SyncFolderItems error", f"<m:SyncFolderItems>{shape}<m:SyncFolderId>{inbox}"
         "</m:SyncFolderId><m:SyncState>AAAA</m:SyncState><m:MaxChangesReturned>5"
         "</m:MaxChangesReturned></m:SyncFolderItems>"),
        ("Subscribe", pull),
        ("Subscribe error", pull.replace("<t:Timeout>", "<t:Watermark>A</t:Watermark><t:Timeout>")),
        ("GetEvents", f"<m:GetEvents><m:SubscriptionId>{subscription}</m:SubscriptionId>"
         f"<m:Watermark>{watermark}</m:Watermark></m:GetEvents>"),
        ("GetEvents error", "<m:GetEvents><m:SubscriptionId>AAAA</m:SubscriptionId>"
         f"<m:Watermark>{watermark}</m:Watermark></m:GetEvents>"),
        ("Unsubscribe", f"<m:Unsubscribe><m:SubscriptionId>{subscription}</m:SubscriptionId>"
         "</m:Unsubscribe>"),
        ("Unsubscribe error", f"<m:Unsubscribe><m:SubscriptionId>{subscription}</m:SubscriptionId>"
         "</m:Unsubscribe>"),
        ("GetStreamingEvents error", "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>"
         "AAAA</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout>"
         "</m:GetStreamingEvents>"),
        ("ConvertId", "<m:ConvertId DestinationFormat='EwsId'><m:SourceIds><t:AlternateId "
         f"Format='EwsId' Id='{item}' Mailbox='{smtp}'/></m:SourceIds></m:ConvertId>"),
        ("ConvertId error", "<m:ConvertId DestinationFormat='EntryId'><m:SourceIds><t:AlternateId "
         "Format='EwsId' Id='DUMMY' Mailbox='DUMMY'/></m:SourceIds></m:ConvertId>"),
    ]  # fmt: skip


def test_every_operation_validates(sim: Simulator, smtp: str, schema: etree.XMLSchema) -> None:
    """A success and an error of each operation validate against messages.xsd."""
    for name, body in _operations(sim, smtp):
        response = post(sim, envelope(body, impersonate=smtp))
        assert response.status_code == 200, f"{name}: {response.text[:300]}"
        result = _validate(schema, response.content, name)
        assert (result == "NoError") == ("error" not in name), f"{name}: {result}"


def test_streaming_documents_validate(sim: Simulator, smtp: str, schema: etree.XMLSchema) -> None:
    """Each SOAP document of a streaming response validates (SendNotification payloads are checked
    by the session simulator's own validator in the push tests)."""
    subscribe = (
        "<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders='true'><t:EventTypes>"
        "<t:EventType>CreatedEvent</t:EventType><t:EventType>MovedEvent</t:EventType>"
        "<t:EventType>ModifiedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest>"
        "</m:Subscribe>"
    )
    response = post(sim, envelope(subscribe, impersonate=smtp))
    subscription = etree.fromstring(response.content).findtext(f".//{{{M}}}SubscriptionId")
    item = sim.control.create_item(smtp, subject="streamed")
    sim.control.move_item(smtp, item, "archive")
    body = envelope(
        f"<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>{subscription}"
        "</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout>"
        "</m:GetStreamingEvents>",
        impersonate=smtp,
    )
    headers = {"Authorization": basic(sim.service_account, sim.service_password)}
    documents = []
    with httpx.stream("POST", sim.endpoint_url, content=body, headers=headers, timeout=20) as r:
        buffer = b""
        for chunk in r.iter_bytes():
            buffer += chunk
            while b"</s:Envelope>" in buffer:
                doc, _, buffer = buffer.partition(b"</s:Envelope>")
                documents.append(doc + b"</s:Envelope>")
                if len(documents) == 2:
                    sim.clock.advance(120)
    assert len(documents) >= 3
    for number, document in enumerate(documents):
        _validate(schema, document, f"streaming document {number}")
    assert any(b"MovedEvent" in d for d in documents)
