"""Graph reads over real HTTP: mail folders and child folders, well-known names, messages with
$select and extended properties, default and immutable ids, paging and query-option errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulator import Simulator
from simulator.graph.ids import to_graph

TOP_LEVEL = [
    "Archive",
    "Conversation History",
    "Deleted Items",
    "Drafts",
    "Inbox",
    "Junk Email",
    "Outbox",
    "Sent Items",
]
SENSITIVITY_AND_CLASS = (
    "$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0036' or id eq 'String 0x001A')"
)


def all_pages(graph: httpx.Client, url: str) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        response = graph.get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["value"]
        pages += 1
        next_url = body.get("@odata.nextLink")
    return rows, pages


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_top_level_mail_folders_only(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    response = graph.get(f"/users/{smtp}/mailFolders")
    body = response.json()
    assert body["@odata.context"].endswith(f"$metadata#users('{smtp}')/mailFolders")
    assert [f["displayName"] for f in body["value"]] == TOP_LEVEL
    root = to_graph(sim.control.folder_id(smtp, "msgfolderroot"))
    assert {f["parentFolderId"] for f in body["value"]} == {root}
    assert all(f["isHidden"] is False for f in body["value"])
    hidden = graph.get(f"/users/{smtp}/mailFolders?includeHiddenFolders=true").json()
    assert [f["displayName"] for f in hidden["value"]] == TOP_LEVEL
    rows, pages = all_pages(graph, f"/users/{smtp}/mailFolders?$top=3")
    assert [f["displayName"] for f in rows] == TOP_LEVEL
    assert pages == 3
    page = graph.get(f"/users/{smtp}/mailFolders?$top=3").json()
    assert "$skip=3" in page["@odata.nextLink"]
    assert "$top=3" in page["@odata.nextLink"]
    small = graph.get(f"/users/{smtp}/mailFolders", headers={"Prefer": "odata.maxpagesize=5"})
    assert len(small.json()["value"]) == 5


def test_child_folders_and_counts(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    sim.control.create_folder(smtp, "inbox", "Birthdays", "IPF.Appointment")
    sim.control.create_folder(smtp, projects, "Alpha")
    sim.control.create_item(smtp, projects, subject="a")
    sim.control.create_item(smtp, projects, subject="b", is_read=True)
    inbox = graph.get(f"/users/{smtp}/mailFolders/inbox").json()
    assert inbox["childFolderCount"] == 1
    children = graph.get(f"/users/{smtp}/mailFolders('inbox')/childFolders").json()
    assert children["@odata.context"].endswith(
        f"$metadata#users('{smtp}')/mailFolders('inbox')/childFolders"
    )
    [child] = children["value"]
    assert child["id"] == to_graph(projects)
    assert (child["childFolderCount"], child["totalItemCount"], child["unreadItemCount"]) == (
        1,
        2,
        1,
    )
    one = graph.get(f"/users/{smtp}/mailFolders/inbox/childFolders/{to_graph(projects)}")
    assert one.json()["displayName"] == "Projects"
    archive = to_graph(sim.control.folder_id(smtp, "archive"))
    wrong = graph.get(f"/users/{smtp}/mailFolders/{archive}/childFolders/{to_graph(projects)}")
    assert error(wrong) == (404, "ErrorItemNotFound")


@pytest.mark.parametrize(
    "name",
    [
        "inbox", "sentitems", "deleteditems", "archive", "msgfolderroot", "drafts", "junkemail",
        "outbox", "conversationhistory", "recoverableitemsdeletions", "Inbox",
    ],
)  # fmt: skip
def test_well_known_names(sim: Simulator, smtp: str, graph: httpx.Client, name: str) -> None:
    response = graph.get(f"/users/{smtp}/mailFolders/{name}")
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith(f"$metadata#users('{smtp}')/mailFolders/$entity")
    assert body["id"] == to_graph(sim.control.folder_id(smtp, name.lower()))
    assert graph.get(f"/users/{smtp}/mailFolders/{body['id']}").json() == body


def test_other_folders_by_id_only(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    assert error(graph.get(f"/users/{smtp}/mailFolders/calendar")) == (
        400,
        "ErrorInvalidIdMalformed",
    )
    calendar = to_graph(sim.control.folder_id(smtp, "calendar"))
    response = graph.get(
        f"/users/{smtp}/mailFolders/{calendar}"
        "?$expand=singleValueExtendedProperties($filter=id eq 'String 0x3613')"
    )
    assert response.json()["singleValueExtendedProperties"] == [
        {"id": "String 0x3613", "value": "IPF.Appointment"}
    ]
    inbox = graph.get(
        f"/users/{smtp}/mailFolders/inbox?$select=displayName"
        "&$expand=singleValueExtendedProperties($filter=id eq 'string 0x3613')"
    ).json()
    assert inbox["@odata.context"].endswith("/mailFolders(displayName)/$entity")
    assert {k: v for k, v in inbox.items() if k != "@odata.context"} == {
        "id": to_graph(sim.control.folder_id(smtp, "inbox")),
        "displayName": "Inbox",
        "singleValueExtendedProperties": [{"id": "String 0x3613", "value": "IPF.Note"}],
    }
    classless = graph.get(
        f"/users/{smtp}/mailFolders/msgfolderroot"
        "?$expand=singleValueExtendedProperties($filter=id eq 'String 0x3613')"
    ).json()
    assert "singleValueExtendedProperties" not in classless
    gone = sim.control.create_folder(smtp, "inbox", "Gone")
    sim.control.delete_folder(smtp, gone, "HardDelete")
    assert error(graph.get(f"/users/{smtp}/mailFolders/{to_graph(gone)}")) == (
        404,
        "ErrorItemNotFound",
    )


def test_message_json_with_select_and_extended_properties(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    made = sim.control.create_item(
        smtp,
        "inbox",
        subject="Quarterly",
        item_class="IPM.Note.MimecastStub",
        sensitivity="Private",
        importance="High",
        flag="Complete",
        categories=["Blue"],
        sender={"name": "Boss", "email": "boss@sim.example"},
        to=[smtp],
        cc=["cc@sim.example"],
        received="2024-05-01T10:00:00Z",
        has_attachments=True,
    )
    full = graph.get(f"/users/{smtp}/messages/{to_graph(made)}").json()
    assert full["@odata.context"].endswith(f"$metadata#users('{smtp}')/messages/$entity")
    assert full["@odata.etag"] == f'W/"{full["changeKey"]}"'
    assert full["importance"] == "high"
    assert full["flag"] == {"flagStatus": "complete"}
    assert full["from"] == {"emailAddress": {"name": "Boss", "address": "boss@sim.example"}}
    assert full["ccRecipients"] == [{"emailAddress": {"name": "cc", "address": "cc@sim.example"}}]
    assert full["receivedDateTime"] == "2024-05-01T10:00:00Z"
    assert full["parentFolderId"] == to_graph(sim.control.folder_id(smtp, "inbox"))
    assert full["body"] == {"contentType": "text", "content": ""}
    assert not {"sensitivity", "messageClass", "itemClass", "singleValueExtendedProperties"} & set(
        full
    )
    picked = graph.get(
        f"/users/{smtp}/messages/{to_graph(made)}?$select=subject,HASATTACHMENTS&{SENSITIVITY_AND_CLASS}"
    ).json()
    assert picked["@odata.context"].endswith("/messages(subject,hasAttachments)/$entity")
    assert {k: v for k, v in picked.items() if not k.startswith("@")} == {
        "id": to_graph(made),
        "subject": "Quarterly",
        "hasAttachments": True,
        "singleValueExtendedProperties": [
            {"id": "Integer 0x36", "value": "2"},
            {"id": "String 0x1a", "value": "IPM.Note.MimecastStub"},
        ],
    }
    spelled = graph.get(
        f"/users/{smtp}/messages/{to_graph(made)}?$select=id&$expand=singleValueExtendedProperties"
        "($filter=id eq 'integer 0x00360003' or id eq 'Integer 0xE08' or id eq 'Long 0x0036'"
        " or id eq 'String {00020329-0000-0000-C000-000000000046} Name Missing')"
    ).json()
    assert spelled["singleValueExtendedProperties"] == [
        {"id": "Integer 0x36", "value": "2"},
        {"id": "Integer 0xe08", "value": "1024"},
    ]


def test_default_and_immutable_ids(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    made = sim.control.create_item(smtp, "inbox", subject="moving")
    ids = sim.graph.message_ids(smtp, made)
    by_immutable = graph.get(
        f"/users/{smtp}/messages/{ids['immutableId']}", headers={"Prefer": 'IdType="ImmutableId"'}
    ).json()
    assert by_immutable["id"] == ids["immutableId"]
    assert graph.get(f"/users/{smtp}/messages/{ids['immutableId']}").json()["id"] == ids["id"]
    moved = sim.control.move_item(smtp, made, "archive")
    assert error(graph.get(f"/users/{smtp}/messages/{ids['id']}")) == (404, "ErrorItemNotFound")
    after = graph.get(f"/users/{smtp}/mailFolders/archive/messages/{ids['immutableId']}").json()
    assert after["id"] == to_graph(moved)
    wrong_folder = graph.get(f"/users/{smtp}/mailFolders/inbox/messages/{to_graph(moved)}")
    assert error(wrong_folder) == (404, "ErrorItemNotFound")
    assert error(graph.get(f"/users/{smtp}/messages/not-an-id")) == (400, "ErrorInvalidIdMalformed")


def test_folder_messages_newest_first_paged_and_filtered(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    made = [
        sim.control.create_item(
            smtp,
            "inbox",
            subject=f"m{day}",
            received=f"2024-05-{day:02d}T08:00:00Z",
            is_read=day % 2 == 0,
        )
        for day in range(1, 8)
    ]
    url = f"/users/{smtp}/mailFolders/inbox/messages?$select=subject&$top=3"
    rows, pages = all_pages(graph, url)
    assert pages == 3
    assert [r["subject"] for r in rows] == [f"m{day}" for day in range(7, 0, -1)]
    first = graph.get(url).json()
    assert first["@odata.context"].endswith("/mailFolders('inbox')/messages(subject)")
    oldest = graph.get(
        f"/users/{smtp}/mailFolders/inbox/messages?$orderby=receivedDateTime asc&$top=1"
    )
    assert oldest.json()["value"][0]["id"] == to_graph(made[0])
    unread = graph.get(
        f"/users/{smtp}/mailFolders/inbox/messages"
        "?$filter=isRead eq false and receivedDateTime ge 2024-05-03T00:00:00Z&$select=subject"
    ).json()
    assert [r["subject"] for r in unread["value"]] == ["m7", "m5", "m3"]


def test_a_folder_listed_with_only_class_and_sensitivity(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    """The drift check's count: ``$select=id`` and the two extended properties, paged by
    ``$top`` (nextLinks keep the query), immutable ids; every page CSDL-checked."""
    made = [
        sim.control.create_item(smtp, "drafts", received="2024-05-03T08:00:00Z"),
        sim.control.create_item(
            smtp, "drafts", sensitivity="Private", received="2024-05-02T08:00:00Z"
        ),
        sim.control.create_item(
            smtp,
            "drafts",
            item_class="IPM.Schedule.Meeting.Request",
            received="2024-05-01T08:00:00Z",
        ),
    ]
    url = f"/users/{smtp}/mailFolders/drafts/messages?$top=2&$select=id&{SENSITIVITY_AND_CLASS}"
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    first = graph.get(url, headers=immutable).json()
    assert first["@odata.context"].endswith("/mailFolders('drafts')/messages(id)")
    second = graph.get(first["@odata.nextLink"], headers=immutable).json()
    assert "@odata.nextLink" not in second
    rows = first["value"] + second["value"]
    assert [r["id"] for r in rows] == [sim.graph.message_ids(smtp, i)["immutableId"] for i in made]
    assert all(set(r) == {"@odata.etag", "id", "singleValueExtendedProperties"} for r in rows)
    assert [[p["value"] for p in r["singleValueExtendedProperties"]] for r in rows] == [
        ["0", "IPM.Note"],
        ["2", "IPM.Note"],
        ["0", "IPM.Schedule.Meeting.Request"],
    ]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("$select=sensitivity", "RequestBroker--ParseUri"),
        ("$search=hello", "ErrorInvalidUrlQuery"),
        ("$count=true", "ErrorInvalidUrlQuery"),
        ("$filter=contains(subject,'x')", "ErrorInvalidUrlQueryFilter"),
        ("$orderby=subject", "BadRequest"),
        ("$top=-1", "BadRequest"),
        ("$expand=attachments", "BadRequest"),
        ("$expand=singleValueExtendedProperties", "BadRequest"),
        (
            "$expand=singleValueExtendedProperties($filter=id eq 'Blob 0x1')",
            "ErrorInvalidExtendedProperty",
        ),
    ],
)
def test_unsupported_query_options_are_400(
    smtp: str, graph: httpx.Client, query: str, code: str
) -> None:
    response = graph.get(f"/users/{smtp}/mailFolders/inbox/messages?{query}")
    assert error(response) == (400, code)


def test_folders_take_no_filter(smtp: str, graph: httpx.Client) -> None:
    response = graph.get(f"/users/{smtp}/mailFolders?$filter=displayName eq 'Inbox'")
    assert error(response) == (400, "ErrorInvalidUrlQuery")
