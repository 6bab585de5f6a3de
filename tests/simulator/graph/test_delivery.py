"""Change notifications over real HTTP: what each mailbox change becomes on a subscription on all
messages and on one folder, with default and immutable ids; batching; retries; the slow-endpoint
rules; and the drop, delay and reorder faults."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from simulator import Simulator, SimulatorSection
from simulator.graph.ids import to_graph, user_id
from simulator.settings import GraphSection
from tests.simulator.graph.receiver import Answer, Receiver, graph_client, subscribe


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _changes(receiver: Receiver, count: int, timeout: float = 5.0) -> list[tuple[str, str]]:
    """The first ``count`` change notifications as (changeType, message id), after waiting."""
    receiver.wait_for(
        lambda r: len(r.notifications("/notify")) >= count, timeout, f"{count} notifications"
    )
    return [(n["changeType"], n["resourceData"]["id"]) for n in receiver.notifications("/notify")]


def _quiet(receiver: Receiver, count: int, seconds: float = 0.2) -> None:
    """Nothing beyond ``count`` notifications arrives for a while."""
    time.sleep(seconds)
    assert len(receiver.notifications("/notify")) == count


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _attempts(sim: Simulator, subscription_id: str) -> list[dict[str, Any]]:
    return [a for a in sim.graph.controls["deliveries"]() if subscription_id in a["subscriptions"]]


def _immutable(sim: Simulator, smtp: str, ews_id: str) -> str:
    return sim.graph.message_ids(smtp, ews_id)["immutableId"]


def test_every_change_on_all_messages_with_default_ids(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    control = sim.control
    projects = control.create_folder(smtp, "inbox", "Projects")
    sid = subscribe(graph, sim, f"users/{smtp}/messages", receiver).json()["id"]
    first = control.create_item(smtp, "inbox", subject="one")
    control.update_item(smtp, first, is_read=True)
    moved = control.move_item(smtp, first, projects)
    copied = control.copy_item(smtp, moved, "inbox")
    binned = control.delete_item(smtp, moved, "MoveToDeletedItems")
    control.delete_item(smtp, copied, "SoftDelete")
    assert binned is not None
    control.delete_item(smtp, binned, "HardDelete")
    control.create_folder(smtp, "inbox", "Nothing for messages")
    g = to_graph
    expected = [
        ("created", g(first)),
        ("updated", g(first)),
        ("deleted", g(first)),
        ("created", g(moved)),
        ("created", g(copied)),
        ("deleted", g(moved)),
        ("created", g(binned)),
        ("deleted", g(copied)),
        ("deleted", g(binned)),
    ]
    assert _changes(receiver, len(expected)) == expected
    _quiet(receiver, len(expected))
    one = receiver.notifications("/notify")[0]
    path = f"Users/{user_id(smtp)}/Messages/{g(first)}"
    assert one["subscriptionId"] == sid
    assert one["clientState"] == "secret-state"
    assert one["tenantId"] == sim.settings.graph.tenant_id
    assert one["resource"] == path
    assert one["subscriptionExpirationDateTime"].endswith("Z")
    data = one["resourceData"]
    assert data["@odata.type"] == "#Microsoft.Graph.Message"
    assert data["@odata.id"] == path
    assert data["@odata.etag"].startswith('W/"')
    assert receiver.notifications("/lifecycle") == []


def test_immutable_ids_name_a_moved_message_by_one_id(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    control = sim.control
    archive = control.folder_id(smtp, "archive")
    subscribe(graph, sim, f"users/{user_id(smtp)}/messages", receiver, immutable=True)
    item = control.create_item(smtp, "inbox", subject="keeps its id")
    stable = _immutable(sim, smtp, item)
    moved = control.move_item(smtp, item, archive)
    copied = control.copy_item(smtp, moved, "inbox")
    copy_id = _immutable(sim, smtp, copied)
    control.delete_item(smtp, moved, "MoveToDeletedItems")
    expected = [
        ("created", stable),
        ("deleted", stable),
        ("created", stable),
        ("created", copy_id),
        ("deleted", stable),
        ("created", stable),
    ]
    assert copy_id != stable
    assert _changes(receiver, len(expected)) == expected


@pytest.mark.parametrize("immutable", [False, True])
def test_a_subscription_on_one_folder_hears_of_that_folder_only(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver, immutable: bool
) -> None:
    control = sim.control
    other = control.create_folder(smtp, "inbox", "Elsewhere")
    resource = f"users/{smtp}/mailFolders('inbox')/messages"
    subscribe(graph, sim, resource, receiver, immutable=immutable)
    ids: list[str] = []

    def name(ews_id: str) -> str:
        return _immutable(sim, smtp, ews_id) if immutable else to_graph(ews_id)

    elsewhere = control.create_item(smtp, other, subject="not here")
    a = control.create_item(smtp, "inbox", subject="a")
    ids.append(name(a))
    control.update_item(smtp, a, is_read=True, categories=["Red"])
    out = control.move_item(smtp, a, other)
    back = control.move_item(smtp, out, "inbox")
    ids.append(name(back))
    copied = control.copy_item(smtp, back, other)  # the inbox copy is unchanged: nothing
    control.copy_item(smtp, elsewhere, "inbox")
    b = control.create_item(smtp, "inbox", subject="b")
    c = control.create_item(smtp, "inbox", subject="c")
    ids += [name(b), name(c)]
    control.delete_item(smtp, back, "MoveToDeletedItems")
    control.delete_item(smtp, b, "SoftDelete")
    control.delete_item(smtp, c, "HardDelete")
    control.update_item(smtp, copied, is_read=True)
    received = _changes(receiver, 10)
    kinds = [k for k, _ in received]
    assert kinds == [
        "created",
        "updated",
        "deleted",  # moved out
        "created",  # moved back in, under a new default id
        "created",  # the copy of the other folder's message
        "created",
        "created",
        "deleted",  # to Deleted Items
        "deleted",  # soft
        "deleted",  # hard
    ]
    assert received[0][1] == ids[0]
    assert received[3][1] == ids[1]
    if immutable:
        assert received[2][1] == received[3][1] == ids[0]  # out and back: one id throughout
    else:
        assert received[2][1] == to_graph(a)
    assert [i for _, i in received[5:7]] == ids[2:4]
    _quiet(receiver, 10)


def test_change_types_filter_what_is_sent(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    subscribe(graph, sim, f"users/{smtp}/messages", receiver, change_type="deleted")
    item = sim.control.create_item(smtp, "inbox")
    sim.control.update_item(smtp, item, is_read=True)
    sim.control.delete_item(smtp, item, "HardDelete")
    assert _changes(receiver, 1) == [("deleted", to_graph(item))]
    _quiet(receiver, 1)


def test_changes_made_together_arrive_in_one_post(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    subscribe(graph, sim, f"users/{smtp}/messages", receiver, change_type="created")
    with sim.store.lock:  # the delivery round cannot look in between
        made = [sim.control.create_item(smtp, "inbox", subject=str(n)) for n in range(3)]
    assert _changes(receiver, 3) == [("created", to_graph(i)) for i in made]
    assert len(receiver.posts("/notify")) == 1


def test_a_failed_delivery_is_retried_until_it_succeeds(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    sid = subscribe(graph, sim, f"users/{smtp}/messages", receiver).json()["id"]
    receiver.plan(Answer(500), Answer(503), path="/notify")
    item = sim.control.create_item(smtp, "inbox")
    receiver.wait_for(lambda r: any(p.answered == 202 for p in r.posts("/notify")))
    _eventually(lambda: len(_attempts(sim, sid)) == 3)
    posts = receiver.posts("/notify")
    assert [p.answered for p in posts] == [500, 503, 202]
    assert all(p.body["value"][0]["resourceData"]["id"] == to_graph(item) for p in posts)
    # Waits double: the third attempt comes later after the second than the second after the first.
    assert posts[2].at - posts[1].at > posts[1].at - posts[0].at
    assert [(a["outcome"], a["status"]) for a in _attempts(sim, sid)] == [
        ("failed", 500),
        ("failed", 503),
        ("delivered", 202),
    ]
    assert receiver.notifications("/lifecycle") == []


def test_faults_drop_delay_and_reorder_notifications(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    control, faults = sim.control, sim.graph.faults
    sid = subscribe(graph, sim, f"users/{smtp}/messages", receiver, change_type="created")
    sid = sid.json()["id"]
    faults.drop_notifications(1)
    lost = control.create_item(smtp, "inbox", subject="lost")
    _eventually(lambda: [a["outcome"] for a in _attempts(sim, sid)] == ["dropped"])
    kept = control.create_item(smtp, "inbox", subject="kept")
    assert _changes(receiver, 1) == [("created", to_graph(kept))]
    assert to_graph(lost) not in str(receiver.notifications())

    delay = httpx.post(
        f"{sim.url}/control/graph/delay_notifications", json={"count": 1, "seconds": 0.6}
    )
    assert delay.status_code == 200
    started = time.monotonic()
    late = control.create_item(smtp, "inbox", subject="late")
    assert _changes(receiver, 2)[1] == ("created", to_graph(late))
    assert receiver.posts("/notify")[-1].at - started >= 0.6

    faults.reorder_notifications(2)
    first = control.create_item(smtp, "inbox", subject="first")
    second = control.create_item(smtp, "inbox", subject="second")
    assert _changes(receiver, 4)[2:] == [
        ("created", to_graph(second)),
        ("created", to_graph(first)),
    ]
    assert receiver.notifications("/lifecycle") == []  # a fault's loss goes unannounced


# --- on simulators of their own, whose clocks the tests advance ---------------------------------
def _own(**graph: Any) -> Simulator:
    settings = GraphSection(
        ack_timeout_s=0.5, slow_threshold_s=0.25, retry_initial_s=0.1, delivery_poll_s=0.02, **graph
    )
    return Simulator(SimulatorSection(port=0, poll_s=0.02, graph=settings)).start()


def test_an_endpoint_that_never_answers_loses_notifications_and_hears_missed(
    receiver: Receiver,
) -> None:
    sim = _own(retry_window_s=60.0)
    try:
        sim.control.create_mailbox("silent@sim.example")
        receiver.always(Answer(hang=True), path="/notify")
        with graph_client(sim) as graph:
            sid = subscribe(graph, sim, "users/silent@sim.example/messages", receiver).json()["id"]
        sim.control.create_item("silent@sim.example", "inbox")
        receiver.wait_for(lambda r: len(r.posts("/notify")) >= 2, what="a retry")
        sim.clock.advance(61)  # past the retry window after the first failure
        receiver.wait_for(lambda r: r.notifications("/lifecycle"), what="missed")
        (missed,) = receiver.notifications("/lifecycle")
        assert missed["lifecycleEvent"] == "missed"
        assert missed["subscriptionId"] == sid
        outcomes = [
            a["outcome"] for a in sim.graph.controls["deliveries"]() if a["kind"] == "change"
        ]
        assert outcomes[-1] == "discarded"
        assert set(outcomes[:-1]) == {"failed"}
        assert all(
            a["detail"].startswith("no answer")
            for a in sim.graph.controls["deliveries"]()
            if a["outcome"] == "failed"
        )
    finally:
        sim.stop()


def test_notifications_per_post_are_capped(receiver: Receiver) -> None:
    sim = _own(max_notifications_per_post=2)
    try:
        sim.control.create_mailbox("cap@sim.example")
        with graph_client(sim) as graph:
            subscribe(graph, sim, "users/cap@sim.example/messages", receiver)
        with sim.store.lock:
            for n in range(5):
                sim.control.create_item("cap@sim.example", "inbox", subject=str(n))
        _changes(receiver, 5)
        assert [len(p.body["value"]) for p in receiver.posts("/notify")] == [2, 2, 1]
    finally:
        sim.stop()


def _one_at_a_time(sim: Simulator, receiver: Receiver, smtp: str, count: int) -> None:
    """Make ``count`` changes, each delivered before the next."""
    for _ in range(count):
        before = len(receiver.notifications("/notify"))
        sim.control.create_item(smtp, "inbox")
        _changes(receiver, before + 1)


def test_slow_endpoint_rules(receiver: Receiver) -> None:
    sim = _own(slow_min_notifications=10)
    smtp = "slow@sim.example"
    try:
        sim.control.create_mailbox(smtp)
        with graph_client(sim) as graph:
            subscribe(graph, sim, f"users/{smtp}/messages", receiver, change_type="created")
        # Declared slow: held back the flagged endpoint's 10 minutes, then delivered.
        sim.graph.faults.declare_slow()
        sim.control.create_item(smtp, "inbox")
        time.sleep(0.3)
        assert receiver.notifications("/notify") == []
        sim.graph.faults.declare_slow(False)
        sim.clock.advance(600)
        _changes(receiver, 1)
        # With the one above, 1 slow answer in 10 notifications (10 %): flagged, so the next
        # one waits the flagged endpoint's 10 minutes.
        receiver.plan(Answer(delay_s=0.35), path="/notify")
        _one_at_a_time(sim, receiver, smtp, 9)
        sim.control.create_item(smtp, "inbox")
        time.sleep(0.3)
        assert len(receiver.notifications("/notify")) == 10
        last = sim.graph.controls["deliveries"]()[-1]
        assert (last["outcome"], last["detail"]) == ("delayed", "slow endpoint (flagged)")
        sim.clock.advance(600)  # the delay ends, and the counts are flushed
        _changes(receiver, 11)
        # 2 slow in 10 (20 %, at least 15 %): dropped, and the client hears it missed some.
        receiver.plan(Answer(delay_s=0.35), Answer(delay_s=0.35), path="/notify")
        _one_at_a_time(sim, receiver, smtp, 9)
        sim.control.create_item(smtp, "inbox")
        receiver.wait_for(lambda r: r.notifications("/lifecycle"), what="missed")
        assert [n["lifecycleEvent"] for n in receiver.notifications("/lifecycle")] == ["missed"]
        assert len(receiver.notifications("/notify")) == 20
        dropped = [a for a in sim.graph.controls["deliveries"]() if a["outcome"] == "dropped"]
        assert [a["detail"] for a in dropped] == ["slow endpoint (20% slow answers)"]
        sim.clock.advance(600)  # counts flushed: delivered again
        sim.control.create_item(smtp, "inbox")
        _changes(receiver, 21)
    finally:
        sim.stop()
