"""Graph delta queries over real HTTP: message delta per folder (pages, options kept in tokens,
every user action, immutable ids), the folder-tree delta, expired and garbage tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulator import Simulator
from simulator.graph.ids import to_graph

IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
Rows = list[dict[str, Any]]


def drain(
    graph: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[Rows, str, int]:
    """Follow nextLinks to the deltaLink: every row, the deltaLink, how many pages."""
    rows: Rows = []
    pages = 0
    while True:
        response = graph.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.context"].endswith("$metadata#Collection(message)") or body[
            "@odata.context"
        ].endswith("$metadata#Collection(mailFolder)")
        rows += body["value"]
        pages += 1
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            assert "$deltatoken=" in body["@odata.deltaLink"]
            return rows, body["@odata.deltaLink"], pages
        assert "$skiptoken=" in body["@odata.nextLink"]
        url = body["@odata.nextLink"]


def by_id(rows: Rows) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def removed(rows: Rows) -> set[str]:
    return {row["id"] for row in rows if "@removed" in row}


def live(rows: Rows) -> set[str]:
    return {row["id"] for row in rows if "@removed" not in row}


def delta_url(smtp: str, folder: str = "inbox") -> str:
    return f"/users/{smtp}/mailFolders/{folder}/messages/delta"


def control(sim: Simulator, action: str, **body: Any) -> Any:
    root = sim.graph_url.removesuffix("/v1.0")
    response = httpx.post(f"{root}/control/graph/{action}", json=body)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_full_delta_pages_keep_select_and_end_in_a_delta_link(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    made = [sim.control.create_item(smtp, "inbox", subject=f"m{n}") for n in range(7)]
    sim.control.create_item(smtp, "archive", subject="elsewhere")
    url = delta_url(smtp) + "?$select=subject,isRead"
    rows, _, pages = drain(graph, url, {"Prefer": "odata.maxpagesize=2"})
    assert pages == 4
    assert {to_graph(m) for m in made} == live(rows)
    for row in rows:
        assert set(row) == {"@odata.type", "@odata.etag", "id", "subject", "isRead"}
        assert row["@odata.type"] == "#microsoft.graph.message"
    # the page size is a per-request preference; the default applies without it
    rows, _, pages = drain(graph, delta_url(smtp))
    assert len(rows) == 7
    assert pages == 1
    assert "sender" in rows[0]


@pytest.mark.parametrize("immutable", [False, True], ids=["default ids", "immutable ids"])
def test_delta_link_after_each_user_action(
    sim: Simulator, smtp: str, graph: httpx.Client, immutable: bool
) -> None:
    headers = IMMUTABLE if immutable else None

    def gid(ews_id: str) -> str:
        return sim.graph.message_ids(smtp, ews_id)["immutableId" if immutable else "id"]

    first = sim.control.create_item(smtp, "inbox", subject="first")
    second = sim.control.create_item(smtp, "inbox", subject="second")
    expand = "$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0036')"
    _, link, _ = drain(graph, delta_url(smtp) + "?" + expand, headers)

    def step() -> Rows:
        nonlocal link
        rows, link, _ = drain(graph, link, headers)
        return rows

    assert step() == []
    third = sim.control.create_item(smtp, "inbox", subject="third")
    assert live(step()) == {gid(third)}
    sim.control.update_item(smtp, first, is_read=True)
    [row] = step()
    assert row["id"] == gid(first)
    assert row["isRead"] is True
    sim.control.update_item(smtp, first, flag="Flagged", categories=["Red"])
    [row] = step()
    assert row["flag"] == {"flagStatus": "flagged"}
    assert row["categories"] == ["Red"]
    sim.control.update_item(smtp, second, sensitivity="Private")
    [row] = step()
    # the $expand of the initial request is still applied: sensitivity as an extended property
    assert row["singleValueExtendedProperties"] == [{"id": "Integer 0x36", "value": "2"}]
    assert "sensitivity" not in row
    first_id = gid(first)
    moved = sim.control.move_item(smtp, first, "archive")
    assert removed(step()) == {first_id}
    archive_rows, _, _ = drain(graph, delta_url(smtp, "archive"), headers)
    assert live(archive_rows) == {gid(moved)}
    assert (gid(moved) == first_id) is immutable
    copied = sim.control.copy_item(smtp, second, "inbox")
    assert live(step()) == {gid(copied)}
    gone = {gid(second), gid(third), gid(copied)}
    sim.control.delete_item(smtp, second, "MoveToDeletedItems")
    sim.control.delete_item(smtp, third, "SoftDelete")
    sim.control.delete_item(smtp, copied, "HardDelete")
    rows = step()
    assert removed(rows) == gone
    assert all(row["@removed"] == {"reason": "deleted"} for row in rows)
    assert live(rows) == set()


def test_moves_keep_the_immutable_id_across_folder_deltas(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    made = sim.control.create_item(smtp, "inbox", subject="traveller")
    immutable = sim.graph.message_ids(smtp, made)["immutableId"]
    rows, inbox_link, _ = drain(graph, delta_url(smtp), IMMUTABLE)
    assert live(rows) == {immutable}
    _, archive_link, _ = drain(graph, delta_url(smtp, "archive"), IMMUTABLE)
    moved = sim.control.move_item(smtp, made, "archive")
    rows, inbox_link, _ = drain(graph, inbox_link, IMMUTABLE)
    assert rows == [
        {
            "@odata.type": "#microsoft.graph.message",
            "id": immutable,
            "@removed": {"reason": "deleted"},
        }
    ]
    rows, archive_link, _ = drain(graph, archive_link, IMMUTABLE)
    assert live(rows) == {immutable}
    # out and back between two syncs: one live message, never removed-and-created
    away = sim.control.move_item(smtp, moved, "inbox")
    rows, archive_link, _ = drain(graph, archive_link, IMMUTABLE)
    assert removed(rows) == {immutable}
    home = sim.control.move_item(smtp, sim.control.move_item(smtp, away, "drafts"), "inbox")
    rows, inbox_link, _ = drain(graph, inbox_link, IMMUTABLE)
    assert [row["id"] for row in rows] == [immutable]
    assert "@removed" not in rows[0]
    # a copy is another message: a new immutable id
    copy = sim.control.copy_item(smtp, home, "inbox")  # control speaks EWS ids
    rows, _, _ = drain(graph, inbox_link, IMMUTABLE)
    assert live(rows) == {sim.graph.message_ids(smtp, copy)["immutableId"]} != {immutable}


def test_out_and_back_with_default_ids_is_a_removal_and_a_new_id(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    made = sim.control.create_item(smtp, "inbox", subject="boomerang")
    _, link, _ = drain(graph, delta_url(smtp))
    back = sim.control.move_item(smtp, sim.control.move_item(smtp, made, "archive"), "inbox")
    rows, _, _ = drain(graph, link)
    assert removed(rows) == {to_graph(made)}
    assert live(rows) == {to_graph(back)}


def test_id_type_may_change_between_pages(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    made = [sim.control.create_item(smtp, "inbox", subject=f"m{n}") for n in range(4)]
    first = graph.get(delta_url(smtp), headers={"Prefer": "odata.maxpagesize=2"}).json()
    second = graph.get(
        first["@odata.nextLink"], headers={"Prefer": 'odata.maxpagesize=2, IdType="ImmutableId"'}
    ).json()
    assert "@odata.deltaLink" in second
    ids = [sim.graph.message_ids(smtp, m) for m in made]
    got = {row["id"] for row in first["value"] + second["value"]}
    assert len(got) == 4
    assert all(i["id"] in got or i["immutableId"] in got for i in ids)


def test_change_type_filters_later_rounds_only(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    old = sim.control.create_item(smtp, "inbox", subject="old")
    gone = sim.control.create_item(smtp, "inbox", subject="gone")
    rows, link, _ = drain(graph, delta_url(smtp) + "?changeType=created")
    assert len(rows) == 2
    new = sim.control.create_item(smtp, "inbox", subject="new")
    sim.control.update_item(smtp, old, is_read=True)
    sim.control.delete_item(smtp, gone, "HardDelete")
    rows, link, _ = drain(graph, link)
    assert [row["id"] for row in rows] == [to_graph(new)]
    rows, _, _ = drain(graph, delta_url(smtp) + "?changeType=deleted")
    assert len(rows) == 2
    bad = graph.get(delta_url(smtp) + "?changeType=moved")
    assert bad.status_code == 400


def test_received_filter_and_unsupported_options(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    sim.control.create_item(smtp, "inbox", subject="early", received="2024-01-01T00:00:00Z")
    late = sim.control.create_item(smtp, "inbox", subject="late", received="2025-01-01T00:00:00Z")
    rows, _, _ = drain(graph, delta_url(smtp) + "?$filter=receivedDateTime ge 2024-06-01T00:00:00Z")
    assert live(rows) == {to_graph(late)}
    for query in (
        "$filter=subject eq 'late'",
        "$filter=receivedDateTime lt 2024-06-01T00:00:00Z",
        "$search=late",
        "$orderby=subject",
        "$skip=1",
        "$select=nonsense",
    ):
        response = graph.get(delta_url(smtp) + "?" + query)
        assert response.status_code == 400, query
    folders = graph.get(f"/users/{smtp}/mailFolders/delta?$top=2")
    assert folders.status_code == 400


def test_folder_tree_delta(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    url = f"/users/{smtp}/mailFolders/delta"
    rows, link, pages = drain(graph, url, {"Prefer": "odata.maxpagesize=3"})
    assert pages == 3
    names = {row["displayName"] for row in rows}
    assert {"Inbox", "Sent Items", "Deleted Items", "Archive", "Conversation History"} <= names
    assert not names & {
        "Calendar",
        "Contacts",
        "Tasks",
        "Notes",
        "Journal",
        "Top of Information Store",
    }
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    deep = sim.control.create_folder(smtp, projects, "Deep")
    sim.control.create_folder(smtp, "inbox", "Meetings", "IPF.Appointment")
    rows, link, _ = drain(graph, link)
    assert [row["displayName"] for row in rows] == ["Projects", "Deep"]
    assert by_id(rows)[to_graph(deep)]["parentFolderId"] == to_graph(projects)
    sim.control.rename_folder(smtp, projects, "Work")
    rows, link, _ = drain(graph, link)
    assert [(row["id"], row["displayName"]) for row in rows] == [(to_graph(projects), "Work")]
    sim.control.move_folder(smtp, deep, "archive")
    rows, link, _ = drain(graph, link)
    archive = to_graph(sim.control.folder_id(smtp, "archive"))
    assert [(row["id"], row["parentFolderId"]) for row in rows] == [(to_graph(deep), archive)]
    sim.control.delete_folder(smtp, projects, "MoveToDeletedItems")
    sim.control.delete_folder(smtp, deep, "HardDelete")
    rows, link, _ = drain(graph, link)
    deleted_items = to_graph(sim.control.folder_id(smtp, "deleteditems"))
    assert by_id(rows)[to_graph(projects)]["parentFolderId"] == deleted_items
    assert by_id(rows)[to_graph(deep)] == {"id": to_graph(deep), "@removed": {"reason": "deleted"}}
    selected, _, _ = drain(graph, url + "?$select=displayName")
    assert all(set(row) == {"id", "displayName"} for row in selected)


def test_expired_tokens_answer_gone_with_a_fresh_location(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    sim.control.create_item(smtp, "inbox", subject="a")
    other = f"x-{smtp}"
    sim.control.create_mailbox(other)
    _, link, _ = drain(graph, delta_url(smtp) + "?$select=subject")
    _, other_link, _ = drain(graph, delta_url(other))
    _, folder_link, _ = drain(graph, f"/users/{smtp}/mailFolders/delta")
    control(sim, "expire_delta_tokens", smtp=smtp)
    for stale in (link, folder_link):
        response = graph.get(stale)
        assert response.status_code == 410
        assert response.json()["error"]["code"] == "syncStateNotFound"
        assert "token" not in response.headers["location"].lower()
    assert graph.get(other_link).status_code == 200
    location = graph.get(link).headers["location"]
    assert location.endswith(f"/users/{smtp}/mailFolders/inbox/messages/delta?$select=subject")
    rows, link, _ = drain(graph, location)
    assert [set(row) for row in rows] == [{"@odata.type", "@odata.etag", "id", "subject"}]
    sim.graph.tokens.expire()  # every mailbox
    assert graph.get(link).status_code == 410
    assert graph.get(other_link).status_code == 410


@pytest.mark.parametrize("kind", ["garbage", "corrupted", "other folder", "folder delta"])
def test_garbage_tokens_ask_for_a_resync(
    sim: Simulator, smtp: str, graph: httpx.Client, kind: str
) -> None:
    _, link, _ = drain(graph, delta_url(smtp))
    token = link.split("$deltatoken=")[1]
    folders = f"{sim.graph_url}/users/{smtp}/mailFolders"
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    url = {
        "garbage": f"{folders}/inbox/messages/delta?$deltatoken=not-a-token",
        "corrupted": f"{folders}/inbox/messages/delta?$skiptoken={flipped}",
        "other folder": f"{folders}/archive/messages/delta?$deltatoken={token}",
        "folder delta": f"{folders}/delta?$deltatoken={token}",
    }[kind]
    response = graph.get(url)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "resyncRequired"
    assert "?" not in response.headers["location"]
    assert graph.get(response.headers["location"]).status_code == 200


def test_changes_between_pages_are_not_lost(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    made = [sim.control.create_item(smtp, "inbox", subject=f"m{n}") for n in range(4)]
    first = graph.get(delta_url(smtp), headers={"Prefer": "odata.maxpagesize=2"}).json()
    late = sim.control.create_item(smtp, "inbox", subject="late")
    sim.control.update_item(smtp, made[0], is_read=True)
    rows, link, _ = drain(graph, first["@odata.nextLink"], {"Prefer": "odata.maxpagesize=2"})
    rows = first["value"] + rows
    rows2, _, _ = drain(graph, link)
    seen = live(rows) | live(rows2)
    assert seen == {to_graph(m) for m in [*made, late]}


def test_emptying_deleted_items_moves_messages_to_the_dumpster(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    made = sim.control.create_item(smtp, "inbox", subject="doomed")
    immutable = sim.graph.message_ids(smtp, made)["immutableId"]
    sim.control.delete_item(smtp, made, "MoveToDeletedItems")
    rows, deleted_link, _ = drain(graph, delta_url(smtp, "deleteditems"), IMMUTABLE)
    assert live(rows) == {immutable}
    _, dumpster_link, _ = drain(graph, delta_url(smtp, "recoverableitemsdeletions"), IMMUTABLE)
    sim.control.empty_folder(smtp, "deleteditems", "SoftDelete")
    rows, _, _ = drain(graph, deleted_link, IMMUTABLE)
    assert removed(rows) == {immutable}
    rows, _, _ = drain(graph, dumpster_link, IMMUTABLE)
    assert live(rows) == {immutable}
