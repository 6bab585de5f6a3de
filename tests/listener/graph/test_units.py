"""Graph mode's parts on their own, with fakes: the folder-check schedule, the fallbacks of
reauthorization and renewal, a 409 on create, group expansion through Graph, body checks."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest

from listener.graphmode import GraphMode
from listener.graphregistry import GraphSubscription
from listener.graphsubscriber import GraphSubscriber, Held
from listener.hierarchy import HierarchySchedule
from listener.metrics import Metrics
from listener.outbox import Outbox
from listener.selection import MailboxSelection, graph_expand
from listener.settings import GraphListenerSection, ListenerSection
from listener.status import StatusBoard
from listener.webhookguard import BadWebhookError, parse_notifications
from mfr.graph import GraphClient, GraphSettings, TokenSource
from mfr.graph.errors import GraphAccessDeniedError, GraphError, GraphNotFoundError
from mfr.retry import RetryPolicy

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = GraphSettings.model_validate(
    {
        "tenant_id": "t",
        "client_id": "c",
        "client_secret": "s",
        "graph_url": "https://graph.test/v1.0",
    }
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_folder_checks_are_spread_over_the_interval_and_keep_their_phase() -> None:
    clock = FakeClock()
    schedule = HierarchySchedule(60.0, clock)
    schedule.add(["a", "b", "c", "d"])
    clock.t += 31
    assert schedule.take_due() == ["a", "b"]
    assert schedule.take_due() == []
    clock.t += 30
    assert sorted(schedule.take_due()) == ["c", "d"]
    schedule.remove(["a"])
    clock.t += 15
    assert schedule.take_due() == []  # a's check (at +75) is gone
    clock.t += 15
    assert schedule.take_due() == ["b"]
    clock.t += 3600  # stalled for an hour: one check each, not sixty
    assert sorted(schedule.take_due()) == ["b", "c", "d"]
    assert schedule.take_due() == []
    assert len(schedule) == 3


class FakeOutbox:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []

    def submit(self, events: list[dict[str, Any]]) -> Future[None]:
        self.events += events
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def submit_status(self, statuses: list[dict[str, Any]]) -> Future[None]:
        self.statuses += statuses
        return self.submit([])

    def publish_until_stored(self, events: list[dict[str, Any]], stop: threading.Event) -> bool:
        self.events += events
        return True


class FakeSubscriber:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: dict[str, GraphError] = {}
        self.notification_url = "https://listener.test/graph/notifications"
        self.made = 0

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail.pop(name)

    def create(self, mailbox: str, client_state: str, expires: datetime) -> Held:
        self._call("create")
        self.made += 1
        return Held(f"sub-{self.made}", expires)

    def renew(self, mailbox: str, subscription_id: str, expires: datetime) -> datetime:
        self._call("renew")
        return expires

    def reauthorize(self, mailbox: str, subscription_id: str) -> None:
        self._call("reauthorize")

    def delete(self, mailbox: str, subscription_id: str) -> None:
        self._call("delete")

    def own(self) -> list[tuple[str, str]]:
        return [("stale-1", "a@x.test")]


def _mode(**graph: Any) -> tuple[GraphMode, FakeSubscriber, FakeOutbox, StatusBoard]:
    section = ListenerSection(
        graph=GraphListenerSection.model_validate(
            {"notification_url": "https://listener.test", "serving_wait_s": 0, **graph}
        )
    )
    outbox, board = FakeOutbox(), StatusBoard()
    serving = threading.Event()
    serving.set()
    mode = GraphMode(
        section,
        GraphClient(SETTINGS),
        cast(Outbox, outbox),
        board,
        Metrics(),
        serving,
        now=lambda: NOW,
        clock=FakeClock(),
    )
    fake = FakeSubscriber()
    mode.subscriber = cast(GraphSubscriber, fake)
    return mode, fake, outbox, board


def _entry(mode: GraphMode, mailbox: str) -> GraphSubscription:
    [entry] = [e for e in mode.registry.entries() if e.mailbox == mailbox]
    return entry


def test_start_deletes_stale_subscriptions_subscribes_and_resyncs() -> None:
    mode, fake, outbox, _ = _mode()
    mode.add(["a@x.test"], "listener started")
    assert fake.calls == ["delete", "create"]
    assert [(e["event_type"], e["reason"]) for e in outbox.events] == [
        ("Resync", "listener started")
    ]
    assert [s["state"] for s in outbox.statuses] == ["Live"]
    mode.stop()


def test_a_failed_reauthorize_falls_back_to_a_renewal() -> None:
    mode, fake, outbox, _ = _mode()
    mode.add(["a@x.test"], "listener started")
    fake.fail["reauthorize"] = GraphAccessDeniedError("refused", status=403)
    mode._reauthorize(_entry(mode, "a@x.test"))
    assert fake.calls[-2:] == ["reauthorize", "renew"]
    assert len(outbox.events) == 1  # nothing to resync: the subscription held
    mode.stop()


def test_a_subscription_gone_at_reauthorization_is_replaced_and_resynced() -> None:
    mode, fake, outbox, board = _mode()
    mode.add(["a@x.test"], "listener started")
    old = _entry(mode, "a@x.test")
    fake.fail["reauthorize"] = GraphNotFoundError("gone", status=404)
    mode._reauthorize(old)
    assert fake.calls[-3:] == ["reauthorize", "delete", "create"]
    assert _entry(mode, "a@x.test").subscription_id == "sub-2"
    assert outbox.events[-1]["reason"] == "subscription lost"
    assert mode.authenticate("sub-1", old.client_state) == (None, "unknown subscription")
    assert board.view()["a@x.test"]["subscription_id"] == "sub-2"
    mode.stop()


def test_a_refused_renewal_keeps_the_subscription_and_waits_long() -> None:
    mode, fake, outbox, board = _mode(access_denied_retry_s=600)
    mode.add(["a@x.test"], "listener started")
    fake.fail["renew"] = GraphAccessDeniedError("Access to OData is disabled.", status=403)
    mode._renew(_entry(mode, "a@x.test"))
    state = board.view()["a@x.test"]
    assert state["subscribed"] is True
    assert "OData" in state["last_error"]
    assert mode._retry_at["a@x.test"] == pytest.approx(1000.0 + 600)
    assert outbox.statuses[-1]["state"] == "Failing"
    assert mode.problem() is None  # one mailbox's trouble does not make the listener unready
    mode.stop()


def test_a_notification_during_the_create_call_is_recognised_by_its_secret() -> None:
    mode, fake, _, _ = _mode()
    seen: list[tuple[GraphSubscription | None, str]] = []
    create = fake.create

    def create_and_notify(mailbox: str, client_state: str, expires: datetime) -> Held:
        seen.append(mode.authenticate("not-yet-known", client_state))
        seen.append(mode.authenticate("not-yet-known", "guess"))
        return create(mailbox, client_state, expires)

    fake.create = create_and_notify  # type: ignore[method-assign]
    mode.add(["a@x.test"], "listener started")
    assert seen[0][0] is not None
    assert seen[0][0].mailbox == "a@x.test"
    assert seen[1] == (None, "unknown subscription")
    mode.stop()


def _client(handler: Any) -> GraphClient:
    tokens = cast(TokenSource, type("T", (), {"token": lambda self: "tok"})())
    return GraphClient(
        SETTINGS,
        tokens=tokens,
        transport=httpx.MockTransport(handler),
        policy=RetryPolicy(attempts=1),
    )


def test_a_409_on_create_deletes_the_named_subscription_and_creates_again() -> None:
    seen: list[str] = []
    existing = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST" and len(seen) == 1:
            return httpx.Response(
                409,
                json={
                    "error": {
                        "code": "Conflict",
                        "message": f"Subscription Id {existing} already exists for the "
                        "requested combination",
                    }
                },
            )
        if request.method == "DELETE":
            return httpx.Response(204)
        body = json.loads(request.content)
        assert request.headers["Prefer"] == 'IdType="ImmutableId"'
        assert body["resource"] == "users/a@x.test/messages"
        assert body["expirationDateTime"].endswith("Z")
        return httpx.Response(201, json={"id": "new", "expirationDateTime": "2026-01-03T00:00:00Z"})

    subscriber = GraphSubscriber(_client(handler), "https://l/n", "https://l/l")
    held = subscriber.create("a@x.test", "secret", NOW + timedelta(days=2))
    assert held.subscription_id == "new"
    assert seen == [
        "POST /v1.0/subscriptions",
        f"DELETE /v1.0/subscriptions/{existing}",
        "POST /v1.0/subscriptions",
    ]


def test_groups_are_expanded_through_graph() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1.0/groups":
            assert request.url.params["$filter"] == "mail eq 'all@x.test'"
            return httpx.Response(200, json={"value": [{"id": "g1"}]})
        assert request.url.path == "/v1.0/groups/g1/transitiveMembers/microsoft.graph.user"
        return httpx.Response(
            200, json={"value": [{"mail": "A@x.test"}, {"mail": None}, {"mail": "b@x.test"}]}
        )

    selection = MailboxSelection(["c@x.test"], ["all@x.test"], graph_expand(_client(handler)))
    assert selection.current() == {"a@x.test", "b@x.test", "c@x.test"}


def test_a_group_graph_cannot_find_keeps_its_last_members() -> None:
    selection = MailboxSelection(
        [],
        ["none@x.test"],
        graph_expand(_client(lambda request: httpx.Response(200, json={"value": []}))),
    )
    assert selection.current() == set()
    assert "no group" in selection.errors["none@x.test"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"value":[{"subscriptionId":"s","clientState":7}]}', "clientState"),
        (b'{"value":[{"subscriptionId":"' + b"s" * 3000 + b'"}]}', "subscriptionId"),
        (b'{"value":[{"subscriptionId":"s","resourceData":{"id":5}}]}', "id"),
        (b"   ", "empty"),
    ],
)
def test_bodies_that_are_not_notifications_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(BadWebhookError, match=reason):
        parse_notifications(body, 16)


def test_a_lifecycle_and_a_change_notification_parse() -> None:
    found = parse_notifications(
        json.dumps(
            {
                "value": [
                    {"subscriptionId": "s1", "clientState": "c", "lifecycleEvent": "missed"},
                    {
                        "subscriptionId": "s2",
                        "clientState": "c",
                        "changeType": "deleted",
                        "resourceData": {"id": "AAMk"},
                    },
                ],
                "validationTokens": ["ignored"],
            }
        ).encode(),
        16,
    )
    assert [(n.lifecycle_event, n.change_type, n.message_id) for n in found] == [
        ("missed", None, None),
        (None, "deleted", "AAMk"),
    ]
