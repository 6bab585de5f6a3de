"""The CSDL checker itself: it passes bodies shaped as Graph documents them and fails each kind of
misfit (unknown property, wrong JSON type, bad enum member, null where the CSDL forbids it,
a body whose type cannot be told)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.simulator.graph.csdl import CHECKED, CsdlError, check_body
from tests.simulator.graph.metadata import context_type, model

ROOT = "https://graph.microsoft.com/v1.0/$metadata#"
USER = "users('7f180cbb-a5ae-457c-b7e8-6f5b42ba33e7')"
GUID = "5a2e5d4f-1b7c-4b1d-9e6b-0c6f4a8e2d11"


def _recipient(name: str, address: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": address}}


def _message() -> dict[str, Any]:
    return {
        "@odata.context": f"{ROOT}{USER}/messages/$entity",
        "@odata.etag": 'W/"CQAAABYAAAA="',
        "id": "AAMkAGI2-message-1",
        "createdDateTime": "2026-11-02T08:15:00Z",
        "lastModifiedDateTime": "2026-11-02T08:15:01.123Z",
        "changeKey": "CQAAABYAAAA=",
        "categories": ["Blue category"],
        "receivedDateTime": "2026-11-02T08:15:00Z",
        "sentDateTime": "2026-11-02T08:14:58+01:00",
        "hasAttachments": False,
        "internetMessageId": "<m1@sim.example>",
        "subject": "Quarterly numbers",
        "importance": "high",
        "parentFolderId": "AAMkAGI2-folder-inbox",
        "conversationIndex": "AQHXyz0=",
        "isRead": True,
        "isDraft": False,
        "flag": {"flagStatus": "flagged"},
        "from": _recipient("Alice", "alice@sim.example"),
        "sender": _recipient("Alice", "alice@sim.example"),
        "toRecipients": [_recipient("Bob", "bob@sim.example")],
        "ccRecipients": [],
        "body": {"contentType": "text", "content": ""},
        "singleValueExtendedProperties@odata.context": f"{ROOT}{USER}/messages('x')/svep",
        "singleValueExtendedProperties": [{"id": "Integer 0x36", "value": "2"}],
    }


def _folder() -> dict[str, Any]:
    return {
        "id": "AAMkAGI2-folder-inbox",
        "displayName": "Inbox",
        "parentFolderId": "AAMkAGI2-folder-root",
        "childFolderCount": 1,
        "unreadItemCount": 3,
        "totalItemCount": 12,
        "isHidden": False,
    }


def _subscription() -> dict[str, Any]:
    return {
        "@odata.context": f"{ROOT}subscriptions/$entity",
        "id": GUID,
        "resource": "users/alice@sim.example/messages",
        "applicationId": "2d9e7a54-0f3c-4b8e-a1d2-5c6b7e8f9a01",
        "changeType": "created,updated,deleted",
        "clientState": "secret",
        "notificationUrl": "https://receiver.example/notify",
        "lifecycleNotificationUrl": "https://receiver.example/lifecycle",
        "expirationDateTime": "2026-11-04T11:00:00.0000000Z",
        "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
        "latestSupportedTlsVersion": "v1_2",
        "includeResourceData": False,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
        "notificationQueryOptions": None,
    }


def _notifications() -> dict[str, Any]:
    change = {
        "subscriptionId": GUID,
        "subscriptionExpirationDateTime": "2026-11-04T11:00:00+00:00",
        "changeType": "created",
        "resource": "Users/alice/Messages/AAMkAGI2-message-1",
        "clientState": "secret",
        "tenantId": "8c2f3a51-3b9d-4e36-9b3e-6b0a5d6c1e77",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": "Users/alice/Messages/AAMkAGI2-message-1",
            "@odata.etag": 'W/"CQAAABYAAAA="',
            "id": "AAMkAGI2-message-1",
        },
    }
    lifecycle = {
        "subscriptionId": GUID,
        "subscriptionExpirationDateTime": "2026-11-04T11:00:00Z",
        "changeType": "updated",
        "lifecycleEvent": "reauthorizationRequired",
        "resource": "users/alice@sim.example/messages",
        "tenantId": "8c2f3a51-3b9d-4e36-9b3e-6b0a5d6c1e77",
        "clientState": "secret",
    }
    return {"value": [change, lifecycle]}


COLLECTION = "microsoft.graph.changeNotificationCollection"


def _fails(body: Any, match: str, type_name: str | None = None) -> None:
    with pytest.raises(CsdlError, match=match):
        check_body(body, type_name)


def test_valid_bodies_pass_and_are_counted() -> None:
    before = CHECKED.copy()
    check_body(_message())
    check_body({"@odata.context": f"{ROOT}{USER}/mailFolders", "value": [_folder()]})
    check_body(_subscription())
    check_body(_notifications(), COLLECTION)
    counted = CHECKED - before
    assert counted["bodies"] == 4
    assert counted["message"] == 1
    assert counted["mailFolder"] == 1
    assert counted["subscription"] == 1
    assert counted["changeNotification"] == 2
    assert counted["recipient"] == 3
    assert counted["emailAddress"] == 3


def test_an_unknown_property_fails() -> None:
    message = _message()
    message["sensitivity"] = "private"  # real Graph has none: it is an extended property
    _fails(message, "message has no property 'sensitivity'")
    nested = _message()
    nested["from"]["emailAddress"]["smtp"] = "alice@sim.example"
    _fails(nested, r"from\.emailAddress\.smtp: .*emailAddress has no property 'smtp'")
    _fails({**_folder(), "@odata.context": f"{ROOT}{USER}/mailFolders/$entity", "x": 1}, "'x'")
    notification = _notifications()
    notification["value"][0]["resourceData"]["subject"] = "leak"
    _fails(notification, "resourceData has no property 'subject'", COLLECTION)


def test_a_wrong_json_type_fails() -> None:
    message = _message()
    message["isRead"] = "true"  # the message-delta page's sample does this; the CSDL wins
    _fails(message, r"isRead: 'true' is not a JSON Edm.Boolean")
    folder: dict[str, Any] = {"@odata.context": f"{ROOT}{USER}/mailFolders", "value": [_folder()]}
    folder["value"][0]["totalItemCount"] = 12.5
    _fails(folder, r"value\[0\]\.totalItemCount")
    dated = _message()
    dated["receivedDateTime"] = "2026-11-02 08:15"
    _fails(dated, "not a JSON Edm.DateTimeOffset")
    listed = _message()
    listed["categories"] = "Blue category"
    _fails(listed, "expected an array of Edm.String")
    guid = _notifications()
    guid["value"][0]["tenantId"] = "not-a-guid"
    _fails(guid, "Edm.Guid", COLLECTION)
    _fails({**_subscription(), "expirationDateTime": None}, "null is not allowed")


def test_a_bad_enum_member_fails() -> None:
    message = _message()
    message["importance"] = "High"  # Graph's members are lower camel case; EWS spells High
    _fails(message, "'High' is not a member of microsoft.graph.importance")
    flagged = _message()
    flagged["flag"]["flagStatus"] = "Flagged"
    _fails(flagged, "followupFlagStatus")
    notification = _notifications()
    notification["value"][1]["lifecycleEvent"] = "expired"
    _fails(notification, "lifecycleEventType", COLLECTION)


def test_types_come_from_the_context_and_odata_type() -> None:
    graph = model()
    delta = context_type(graph, f"{ROOT}{USER}/mailFolders('inbox')/messages/$delta")
    assert (delta.name, delta.collection) == ("microsoft.graph.message", True)
    selected = context_type(graph, f"{ROOT}{USER}/messages(subject,from)/$entity")
    assert (selected.name, selected.collection) == ("microsoft.graph.message", False)
    assert context_type(graph, f"{ROOT}Collection(mailFolder)").collection
    assert context_type(graph, f"{ROOT}users/$entity").name == "microsoft.graph.user"
    _fails({"@odata.context": f"{ROOT}{USER}/nothingHere", "value": []}, "has no 'nothingHere'")
    _fails({"@odata.context": "no metadata", "value": []}, "not a metadata URL")
    search = {**_folder(), "@odata.type": "#microsoft.graph.mailSearchFolder", "isSupported": True}
    check_body({"@odata.context": f"{ROOT}Collection(mailFolder)", "value": [search]})
    wrong = {**_folder(), "@odata.type": "#microsoft.graph.message"}
    _fails({"@odata.context": f"{ROOT}Collection(mailFolder)", "value": [wrong]}, "derive")


def test_delta_pages_with_removed_entries_pass() -> None:
    page: dict[str, Any] = {
        "@odata.context": f"{ROOT}Collection(message)",
        "@odata.deltaLink": "https://graph.microsoft.com/v1.0/...?$deltatoken=abc",
        "value": [
            {
                "@odata.type": "#microsoft.graph.message",
                "id": "m1",
                "@removed": {"reason": "deleted"},
            },
            {"@odata.type": "#microsoft.graph.message", "id": "m2", "isRead": True},
        ],
    }
    check_body(page)
    bad = copy.deepcopy(page)
    bad["value"][0]["@removed"] = {"reason": "gone"}
    _fails(bad, "reason")
    extra = {**page, "count": 2}
    _fails(extra, "only value and annotations")


def test_errors_batches_and_unknown_shapes() -> None:
    error = {"error": {"code": "ErrorItemNotFound", "message": "Not found.", "innerError": {}}}
    check_body(error)
    _fails({"error": {"code": 404, "message": "x"}}, r"error\.code")
    batch: dict[str, Any] = {
        "responses": [
            {"id": "1", "status": 200, "headers": {"Content-Type": "application/json"},
             "body": {"@odata.context": f"{ROOT}{USER}/mailFolders", "value": [_folder()]}},
            {"id": "2", "status": 404, "body": error},
        ]
    }  # fmt: skip
    check_body(batch)
    broken = copy.deepcopy(batch)
    broken["responses"][0]["body"]["value"][0]["colour"] = "red"
    _fails(broken, r"(?s)responses\[0\]\.body.*colour")
    _fails({"subject": "who am I?"}, "cannot tell which Graph type")
    _fails([_folder()], "is an object")
    before = CHECKED.copy()
    check_body({"token_type": "Bearer", "expires_in": 3599, "access_token": "e.y.j"})
    check_body({"error": "invalid_client", "error_description": "AADSTS7000215"})
    check_body({"result": None})
    assert before == CHECKED


def test_every_json_body_the_graph_client_gets_is_checked(smtp: str, graph: httpx.Client) -> None:
    before = CHECKED.copy()
    assert graph.get(f"/users/{smtp}/mailFolders").status_code == 200
    assert graph.get("/users/nobody@sim.example").status_code == 404
    counted = CHECKED - before
    assert counted["bodies"] == 1
    assert counted["mailFolder"] >= 5
    assert counted["errors"] == 1
