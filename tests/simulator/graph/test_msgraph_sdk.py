"""Issue 11's acceptance run: Microsoft's msgraph-sdk, unmodified, against the simulator over real
HTTP. It lists folders, runs folder and message deltas to completion, follows delta links after
control-API changes (new mail, move, copy, every kind of delete, read/flag/categories, sensitivity
to Private), reads messages with extended properties, manages a subscription whose validation and
notifications reach a receiver in the test, and rides out throttling with Retry-After. The module
has a simulator of its own serving HTTPS, so its tokens come from msal, unmodified too, through
the simulator's token endpoint (``sdk.default_tokens``).

Extended property ids follow extended-properties-overview.md's proptag form ("{type} {proptag}"):
PR_SENSITIVITY is MAPI property 0x0036 (an Integer: 0 normal, 1 personal, 2 private,
3 confidential) and PR_MESSAGE_CLASS is 0x001A (a String); the reference pages do not list them,
MAPI's property list does. The SDK is async; each test runs its scenario with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.subscription import Subscription
from msgraph.graph_service_client import GraphServiceClient

from simulator import Simulator, SimulatorSection
from simulator.graph.ids import to_graph, user_id
from tests.simulator.conftest import schema_dir
from tests.simulator.graph.conftest import FAST_GRAPH
from tests.simulator.graph.receiver import Receiver
from tests.simulator.graph.sdk import simulator_client

# The SDK's generated request builders warn, as they are imported (here at collection, and
# lazily in the tests), about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from msgraph.generated.users.item.mail_folders.item.messages.delta import (
        delta_request_builder,
    )
    from msgraph.generated.users.item.messages.item import message_item_request_builder

PAGE = "odata.maxpagesize=4"
SENSITIVITY = "Integer 0x36"
MESSAGE_CLASS = "String 0x1A"
SELECT = ["subject", "isRead", "flag", "categories", "from", "receivedDateTime", "parentFolderId"]
T = TypeVar("T")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """This module's own simulator: the package's Graph settings, served over HTTPS (msal
    accepts only an https authority)."""
    settings = SimulatorSection(
        port=0,
        validate_responses=True,
        schema_dir=schema_dir(),
        poll_s=0.02,
        graph=FAST_GRAPH,
        tls=True,
        tls_dir=tmp_path_factory.mktemp("tls"),
    )
    with Simulator(settings) as simulator:
        yield simulator


def config(prefer: str | None = None, query: Any = None) -> RequestConfiguration[Any]:
    """A request configuration with a Prefer header and the generated query parameters."""
    conf: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
    if prefer:
        conf.headers.add("Prefer", prefer)
    return conf


def delta_query(select: list[str]) -> Any:
    """Message delta's generated query parameters with a $select."""
    builder = delta_request_builder.DeltaRequestBuilder
    return builder.DeltaRequestBuilderGetQueryParameters(select=select)


def message_query(select: list[str], expand: list[str]) -> Any:
    """Message get's generated query parameters with $select and $expand."""
    builder = message_item_request_builder.MessageItemRequestBuilder
    return builder.MessageItemRequestBuilderGetQueryParameters(select=select, expand=expand)


def run(sim: Simulator, scenario: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    """Run an async scenario with a checked GraphServiceClient on the simulator."""

    async def main() -> T:
        async with simulator_client(sim) as client:
            return await scenario(client)

    return asyncio.run(main())


async def delta_round(builder: Any, query: Any = None) -> tuple[list[Any], str]:
    """Follow ``@odata.nextLink`` until ``@odata.deltaLink`` with pages of ``PAGE``: the round's
    entries and its delta link. Query parameters go on the first request only: the links carry
    them on (delta-query-messages.md)."""
    page = await builder.get(request_configuration=config(PAGE, query))
    entries = list(page.value or [])
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get(request_configuration=config(PAGE))
        entries += page.value or []
    assert page.odata_delta_link, "a round ends with a deltaLink"
    return entries, page.odata_delta_link


def removed(entry: Any) -> str | None:
    """The ``@removed`` reason of a delta entry (None for a live one)."""
    mark = (entry.additional_data or {}).get("@removed")
    return None if mark is None else str(mark["reason"])


def test_lists_folders_and_child_folders(sim: Simulator, smtp: str) -> None:
    projects = sim.control.create_folder(smtp, "inbox", "Projects")

    async def scenario(client: GraphServiceClient) -> None:
        user = client.users.by_user_id(smtp)
        page = await user.mail_folders.get()
        assert page is not None
        folders = list(page.value or [])
        while page.odata_next_link:
            page = await user.mail_folders.with_url(page.odata_next_link).get()
            assert page is not None
            folders += page.value or []
        names = {f.display_name for f in folders}
        assert {"Inbox", "Sent Items", "Deleted Items", "Drafts", "Archive"} <= names
        [inbox] = [f for f in folders if f.display_name == "Inbox"]
        assert inbox.child_folder_count == 1
        well_known = await user.mail_folders.by_mail_folder_id("inbox").get()
        assert well_known is not None
        assert well_known.id == inbox.id
        by_guid = client.users.by_user_id(user_id(smtp))
        children = await by_guid.mail_folders.by_mail_folder_id(str(inbox.id)).child_folders.get()
        assert children is not None
        [child] = children.value or []
        assert (child.display_name, child.id) == ("Projects", to_graph(projects))
        assert child.parent_folder_id == inbox.id

    run(sim, scenario)
    # Over HTTPS, with the token from msal through the simulator's token endpoint.
    assert sim.url.startswith("https://")
    assert [e.status for e in sim.request_log.entries(operation="graph.token")][-1:] == [200]


def test_folder_delta_runs_to_completion_and_follows_changes(sim: Simulator, smtp: str) -> None:
    async def scenario(client: GraphServiceClient) -> None:
        delta = client.users.by_user_id(smtp).mail_folders.delta
        first, link = await delta_round(delta)
        assert {"Inbox", "Archive", "Deleted Items"} <= {f.display_name for f in first}
        assert all(removed(f) is None for f in first)
        receipts = sim.control.create_folder(smtp, "inbox", "Receipts")
        old = sim.control.create_folder(smtp, "msgfolderroot", "Old")
        second, link = await delta_round(delta.with_url(link))
        assert {f.id: f.display_name for f in second} == {
            to_graph(receipts): "Receipts",
            to_graph(old): "Old",
        }
        sim.control.rename_folder(smtp, receipts, "Invoices")
        sim.control.delete_folder(smtp, old, "HardDelete")
        third, _ = await delta_round(delta.with_url(link))
        by_id = {f.id: f for f in third}
        assert by_id[to_graph(receipts)].display_name == "Invoices"
        assert removed(by_id[to_graph(old)]) == "deleted"

    run(sim, scenario)


def test_message_deltas_follow_every_kind_of_change(sim: Simulator, smtp: str) -> None:
    ids = [sim.control.create_item(smtp, subject=f"message {n}") for n in range(9)]
    graph_ids = [to_graph(i) for i in ids]

    async def scenario(client: GraphServiceClient) -> None:
        user = client.users.by_user_id(smtp)

        def folder(name: str) -> Any:
            return user.mail_folders.by_mail_folder_id(name).messages.delta

        links: dict[str, str] = {}
        for name in ("inbox", "archive", "deleteditems"):
            entries, links[name] = await delta_round(folder(name), delta_query(SELECT))
            if name == "inbox":
                assert sorted(e.id for e in entries) == sorted(graph_ids)
                assert {e.subject for e in entries} == {f"message {n}" for n in range(9)}
                assert all(e.body is None for e in entries), "$select leaves the body out"
            else:
                assert entries == []
        new = sim.control.create_item(smtp, subject="new mail")
        moved = sim.control.move_item(smtp, ids[0], "archive")
        copied = sim.control.copy_item(smtp, ids[1], "archive")
        binned = sim.control.delete_item(smtp, ids[2], "MoveToDeletedItems")
        sim.control.delete_item(smtp, ids[3], "SoftDelete")
        sim.control.delete_item(smtp, ids[4], "HardDelete")
        sim.control.update_item(smtp, ids[5], is_read=True)
        sim.control.update_item(smtp, ids[6], flag="Flagged")
        sim.control.update_item(smtp, ids[7], categories=["Red category"])
        sim.control.update_item(smtp, ids[8], sensitivity="Private")

        inbox, links["inbox"] = await delta_round(
            folder("inbox").with_url(links["inbox"]), config(PAGE)
        )
        gone = {e.id: removed(e) for e in inbox if removed(e)}
        # moved, binned, soft- and hard-deleted leave; the copied original stays unchanged
        assert gone == dict.fromkeys([graph_ids[n] for n in (0, 2, 3, 4)], "deleted")
        live = {e.id: e for e in inbox if not removed(e)}
        assert set(live) == {to_graph(new), *graph_ids[5:]}
        assert live[to_graph(new)].subject == "new mail"
        assert live[graph_ids[5]].is_read is True
        assert live[graph_ids[6]].flag.flag_status.value == "flagged"
        assert live[graph_ids[7]].categories == ["Red category"]

        archive, _ = await delta_round(folder("archive").with_url(links["archive"]))
        assert sorted(e.id for e in archive) == sorted([to_graph(moved), to_graph(copied)])
        assert binned is not None
        binned_id = to_graph(binned)
        deleted, links["deleteditems"] = await delta_round(
            folder("deleteditems").with_url(links["deleteditems"]), config(PAGE)
        )
        assert [e.id for e in deleted] == [binned_id]
        sim.control.empty_folder(smtp, "deleteditems", "HardDelete")
        emptied, _ = await delta_round(
            folder("deleteditems").with_url(links["deleteditems"]), config(PAGE)
        )
        assert [(e.id, removed(e)) for e in emptied] == [(binned_id, "deleted")]

        private = await read_properties(client, smtp, graph_ids[8])
        assert private == {SENSITIVITY: "2", MESSAGE_CLASS: "IPM.Note"}
        normal = await read_properties(client, smtp, graph_ids[5])
        assert normal[SENSITIVITY] == "0"

    run(sim, scenario)


async def read_properties(client: GraphServiceClient, smtp: str, message_id: str) -> dict[str, str]:
    """A message's sensitivity and message class, read as extended properties (the message
    resource has neither; singlevaluelegacyextendedproperty-get.md)."""
    found: dict[str, str] = {}
    message = client.users.by_user_id(smtp).messages.by_message_id(message_id)
    for prop in (SENSITIVITY, MESSAGE_CLASS):
        expand = [f"singleValueExtendedProperties($filter=id eq '{prop}')"]
        got = await message.get(
            request_configuration=config(query=message_query(["subject"], expand))
        )
        assert got is not None
        assert got.id == message_id
        for extended in got.single_value_extended_properties or []:
            assert extended.id is not None
            assert extended.id.lower() == prop.lower()
            found[prop] = str(extended.value)
    return found


def test_throttling_is_ridden_out_after_retry_after(sim: Simulator, smtp: str) -> None:
    """Two 429s with Retry-After: 1; the SDK's RetryHandler waits what it is told and retries."""
    sim.graph.faults.throttle(2, retry_after_s=1)

    async def scenario(client: GraphServiceClient) -> float:
        started = time.monotonic()
        user = await client.users.by_user_id(smtp).get()
        assert user is not None
        assert user.user_principal_name == smtp
        return time.monotonic() - started

    elapsed = run(sim, scenario)
    assert 2.0 <= elapsed < 6.0
    answers = [e.status for e in sim.request_log.entries(operation="graph.user.get", mailbox=smtp)]
    assert answers[-3:] == [429, 429, 200]


def test_a_subscription_is_created_renewed_and_deleted_and_reaches_a_receiver(
    sim: Simulator, smtp: str
) -> None:
    """Validation, notifications, a lifecycle event, renewal, reauthorization and deletion, all
    through the SDK's subscription request builders (subscription-*.md)."""

    async def scenario(client: GraphServiceClient, receiver: Receiver) -> None:
        async def arrived(condition: Callable[[Receiver], bool], what: str) -> None:
            await asyncio.to_thread(receiver.wait_for, condition, 5.0, what)

        requested = Subscription(
            change_type="created,updated,deleted",
            notification_url=receiver.url("/notify"),
            lifecycle_notification_url=receiver.url("/lifecycle"),
            resource=f"users/{smtp}/mailFolders('inbox')/messages",
            expiration_date_time=sim.clock.now() + timedelta(minutes=60),
            client_state="sdk-state",
        )
        created = await client.subscriptions.post(requested)
        assert created is not None
        assert created.id is not None
        assert created.client_state == "sdk-state"
        assert [h.path for h in receiver.handshakes()] == ["/notify", "/lifecycle"]

        item = to_graph(sim.control.create_item(smtp, subject="hello webhook"))
        await arrived(lambda r: len(r.notifications("/notify")) >= 1, "a created notification")
        [note] = [n for n in receiver.notifications("/notify") if n["changeType"] == "created"]
        assert (note["subscriptionId"], note["clientState"]) == (created.id, "sdk-state")
        assert note["resourceData"]["id"] == item
        assert note["tenantId"] == sim.settings.graph.tenant_id

        sim.graph.controls["lifecycle"]("reauthorizationRequired", [created.id])
        await arrived(lambda r: len(r.notifications("/lifecycle")) >= 1, "a lifecycle event")
        [event] = receiver.notifications("/lifecycle")
        assert event["lifecycleEvent"] == "reauthorizationRequired"
        this = client.subscriptions.by_subscription_id(created.id)
        await this.reauthorize.post()

        later = sim.clock.now() + timedelta(minutes=4000)
        renewed = await this.patch(Subscription(expiration_date_time=later))
        assert renewed is not None
        assert renewed.expiration_date_time is not None
        assert abs((renewed.expiration_date_time - later).total_seconds()) < 1
        listed = await client.subscriptions.get()
        assert listed is not None
        assert created.id in [s.id for s in listed.value or []]

        await this.delete()
        listed = await client.subscriptions.get()
        assert listed is not None
        assert created.id not in [s.id for s in listed.value or []]
        before = len(receiver.posts("/notify"))
        sim.control.create_item(smtp, subject="after the end")
        await asyncio.sleep(0.3)
        assert len(receiver.posts("/notify")) == before

    with Receiver() as receiver:
        run(sim, lambda client: scenario(client, receiver))
