"""Graph subscriptions over real HTTP: create (with the validation handshake), list, get, renew,
delete, reauthorize, and each documented refusal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator import Simulator, SimulatorSection
from simulator.graph.ids import folder_id, user_id
from simulator.settings import GraphSection
from tests.simulator.graph.receiver import Receiver, expiry, graph_client, subscribe


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return str(response.json()["error"]["message"])


def test_create_validates_both_urls_and_returns_the_subscription(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    created = subscribe(graph, sim, f"/users/{smtp}/messages", receiver, immutable=True)
    assert created.status_code == 201, created.text
    body = created.json()
    uuid.UUID(body["id"])
    assert body["@odata.context"].endswith("/$metadata#subscriptions/$entity")
    assert body["resource"] == f"/users/{smtp}/messages"
    assert body["changeType"] == "created,updated,deleted"
    assert body["clientState"] == "secret-state"
    assert body["notificationUrl"] == receiver.url("/notify")
    assert body["lifecycleNotificationUrl"] == receiver.url("/lifecycle")
    assert body["applicationId"] == sim.settings.graph.client_id
    uuid.UUID(body["creatorId"])
    assert body["latestSupportedTlsVersion"] == "v1_2"
    assert body["expirationDateTime"].endswith("Z")
    # Both URLs were validated, each with a token that needs URL-decoding.
    shakes = receiver.handshakes()
    assert [h.path for h in shakes] == ["/notify", "/lifecycle"]
    token = shakes[0].query["validationToken"][0]
    assert " " in token
    assert shakes[0].headers["content-type"].startswith("text/plain")
    # It is listed for this application and can be read back.
    listed = graph.get("/subscriptions").json()
    assert body["id"] in [s["id"] for s in listed["value"]]
    assert listed["@odata.context"].endswith("/$metadata#subscriptions")
    assert graph.get(f"/subscriptions/{body['id']}").json()["id"] == body["id"]
    assert sim.request_log.entries(operation="graph.subscription.create")[-1].status == 201
    described = sim.graph.controls["subscriptions"]()
    mine = next(s for s in described if s["id"] == body["id"])
    assert mine["immutableIds"] is True
    assert mine["mailbox"] == smtp
    assert graph.delete(f"/subscriptions/{body['id']}").status_code == 204


def test_renew_reauthorize_and_delete(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    sid = subscribe(graph, sim, f"users/{smtp}/messages", receiver).json()["id"]
    renewed = graph.patch(f"/subscriptions/{sid}", json={"expirationDateTime": expiry(sim, 4000)})
    assert renewed.status_code == 200, renewed.text
    when = datetime.fromisoformat(renewed.json()["expirationDateTime"])
    assert abs(when - (sim.clock.now() + timedelta(minutes=4000))) < timedelta(minutes=1)
    too_far = graph.patch(f"/subscriptions/{sid}", json={"expirationDateTime": expiry(sim, 4300)})
    assert "4230 minutes" in _error(too_far, 400, "InvalidRequest")
    past = graph.patch(f"/subscriptions/{sid}", json={"expirationDateTime": expiry(sim, -1)})
    _error(past, 400, "InvalidRequest")
    changed_url = graph.patch(
        f"/subscriptions/{sid}", json={"lifecycleNotificationUrl": receiver.url("/other")}
    )
    assert "lifecycleNotificationUrl" in _error(changed_url, 400, "InvalidRequest")
    other = graph.patch(f"/subscriptions/{sid}", json={"changeType": "created"})
    _error(other, 400, "InvalidRequest")
    reauthorized = graph.post(f"/subscriptions/{sid}/reauthorize")
    assert reauthorized.status_code == 204
    assert not reauthorized.content
    assert graph.delete(f"/subscriptions/{sid}").status_code == 204
    _error(graph.get(f"/subscriptions/{sid}"), 404, "ResourceNotFound")
    _error(graph.delete(f"/subscriptions/{sid}"), 404, "ResourceNotFound")
    _error(graph.post(f"/subscriptions/{sid}/reauthorize"), 404, "ResourceNotFound")
    assert sid not in [s["id"] for s in graph.get("/subscriptions").json()["value"]]


def test_a_lifecycle_url_cannot_be_added_by_patch(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    sid = subscribe(graph, sim, f"users/{smtp}/messages", receiver, lifecycle=False).json()["id"]
    added = graph.patch(
        f"/subscriptions/{sid}",
        json={"expirationDateTime": expiry(sim, 600), "lifecycleNotificationUrl": receiver.url()},
    )
    _error(added, 400, "InvalidRequest")
    assert graph.get(f"/subscriptions/{sid}").json()["lifecycleNotificationUrl"] is None


@pytest.mark.parametrize("mode", ["wrong-body", "wrong-type", "error"])
def test_a_failed_handshake_creates_nothing(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver, mode: str
) -> None:
    receiver.validation = mode
    refused = subscribe(graph, sim, f"users/{smtp}/messages", receiver)
    assert "validation" in _error(refused, 400, "ValidationError")
    assert not [s for s in sim.graph.controls["subscriptions"]() if s["mailbox"] == smtp]
    attempt = sim.graph.controls["deliveries"]()[-1]
    assert attempt["kind"] == "validation"
    assert attempt["outcome"] == "refused"


def test_a_lifecycle_url_that_fails_validation_creates_nothing(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    with Receiver() as refusing:
        refusing.validation = "wrong-body"
        refused = subscribe(
            graph,
            sim,
            f"users/{smtp}/messages",
            receiver,
            lifecycleNotificationUrl=refusing.url("/lifecycle"),
        )
        _error(refused, 400, "ValidationError")
        assert len(refusing.handshakes()) == 1
    assert len(receiver.handshakes()) == 1  # the notificationUrl passed first


def test_expiration_must_be_in_the_future_and_within_the_maximum(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    resource = f"users/{smtp}/messages"
    too_far = subscribe(graph, sim, resource, receiver, minutes=4231)
    assert "4230 minutes" in _error(too_far, 400, "InvalidRequest")
    past = subscribe(graph, sim, resource, receiver, minutes=-5)
    _error(past, 400, "InvalidRequest")
    garbage = subscribe(graph, sim, resource, receiver, expirationDateTime="tomorrow")
    _error(garbage, 400, "InvalidRequest")
    assert receiver.handshakes() == []  # refused before any validation request
    longest = subscribe(graph, sim, resource, receiver, minutes=4229)
    assert longest.status_code == 201, longest.text


def test_client_state_is_at_most_128_characters(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    long = subscribe(graph, sim, f"users/{smtp}/messages", receiver, client_state="x" * 129)
    assert "128" in _error(long, 400, "InvalidRequest")
    fits = subscribe(graph, sim, f"users/{smtp}/messages", receiver, client_state="x" * 128)
    assert fits.status_code == 201
    assert fits.json()["clientState"] == "x" * 128


def test_a_duplicate_is_a_conflict_however_the_resource_is_spelled(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    first = subscribe(graph, sim, f"users/{smtp}/messages", receiver, change_type="created")
    assert first.status_code == 201
    again = subscribe(
        graph, sim, f"/Users/{user_id(smtp)}/Messages", receiver, change_type="created"
    )
    assert first.json()["id"] in _error(again, 409, "Conflict")
    other_kinds = subscribe(
        graph, sim, f"users/{smtp}/messages", receiver, change_type="created,deleted"
    )
    assert other_kinds.status_code == 201
    inbox = subscribe(
        graph, sim, f"users/{smtp}/mailFolders('inbox')/messages", receiver, change_type="created"
    )
    assert inbox.status_code == 201
    with sim.store.lock:
        inbox_id = folder_id(
            sim.store.require(smtp), sim.store.require(smtp).distinguished["inbox"]
        )
    same_folder = subscribe(
        graph, sim, f"users/{smtp}/mailfolders/{inbox_id}/messages", receiver, change_type="created"
    )
    _error(same_folder, 409, "Conflict")


def test_a_mailbox_outside_the_access_policy_is_refused(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    client_id = str(uuid.uuid4())
    sim.graph.auth.register(client_id, secret="s", roles={"Mail.Read"}, mailboxes={"x@sim.example"})
    token = sim.graph.auth.issue_token(client_id)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=sim.graph_url, headers=headers, timeout=30) as scoped:
        denied = subscribe(scoped, sim, f"users/{smtp}/messages", receiver)
        assert "Access to OData is disabled" in _error(denied, 403, "ErrorAccessDenied")
        assert receiver.handshakes() == []
        # Another application's subscription is not this one's to read or delete.
        theirs = subscribe(graph, sim, f"users/{smtp}/messages", receiver).json()["id"]
        _error(scoped.get(f"/subscriptions/{theirs}"), 404, "ResourceNotFound")
        _error(scoped.delete(f"/subscriptions/{theirs}"), 404, "ResourceNotFound")
        assert scoped.get("/subscriptions").json()["value"] == []


@pytest.mark.parametrize(
    ("resource", "status", "code"),
    [
        ("me/messages", 400, "BadRequest"),
        ("users/{smtp}/events", 400, "InvalidRequest"),
        ("users/{smtp}/messages?$filter=isRead eq false", 400, "InvalidRequest"),
        ("users/nobody@sim.example/messages", 404, "ErrorInvalidUser"),
        ("users/{smtp}/mailFolders('nosuchfolder')/messages", 404, "ErrorItemNotFound"),
    ],
)
def test_unsupported_resources_are_refused(
    sim: Simulator,
    smtp: str,
    graph: httpx.Client,
    receiver: Receiver,
    resource: str,
    status: int,
    code: str,
) -> None:
    refused = subscribe(graph, sim, resource.format(smtp=smtp), receiver)
    _error(refused, status, code)


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"includeResourceData": True}, 400),
        ({"changeType": "created,moved"}, 400),
        ({"changeType": ""}, 400),
        ({"latestSupportedTlsVersion": "v2_0"}, 400),
        ({"notificationUrl": "not a url"}, 400),
        ({"notificationQueryOptions": "$filter=x"}, 400),
        ({"colour": "blue"}, 400),
        ({"includeResourceData": False, "latestSupportedTlsVersion": "v1_3"}, 201),
    ],
)
def test_request_bodies_are_checked(
    sim: Simulator,
    smtp: str,
    graph: httpx.Client,
    receiver: Receiver,
    extra: dict[str, Any],
    status: int,
) -> None:
    answer = subscribe(graph, sim, f"users/{smtp}/messages", receiver, **extra)
    assert answer.status_code == status, answer.text
    if "includeResourceData" in extra and status == 400:
        assert "not simulated" in answer.json()["error"]["message"]


@pytest.fixture(scope="module")
def strict() -> Iterator[Simulator]:
    """A simulator of this module's own: a short handshake timeout, a quota of two."""
    settings = SimulatorSection(
        port=0,
        poll_s=0.02,
        graph=GraphSection(validation_timeout_s=0.5, max_subscriptions_per_mailbox=2),
    )
    with Simulator(settings) as simulator:
        yield simulator


@pytest.mark.parametrize("mode", ["slow", "hang"])
def test_a_handshake_answered_late_or_never_times_out(
    strict: Simulator, receiver: Receiver, mode: str
) -> None:
    strict.control.create_mailbox(f"{mode}@sim.example")
    receiver.validation = mode
    receiver.validation_delay_s = 0.8
    with graph_client(strict) as graph:
        refused = subscribe(graph, strict, f"users/{mode}@sim.example/messages", receiver)
    assert "timed out" in _error(refused, 400, "ValidationError")
    assert strict.graph.controls["subscriptions"]() == []


def test_at_most_the_quota_of_subscriptions_per_mailbox(
    strict: Simulator, receiver: Receiver
) -> None:
    strict.control.create_mailbox("quota@sim.example")
    resource = "users/quota@sim.example/messages"
    with graph_client(strict) as graph:
        for kinds in ("created", "updated"):
            assert subscribe(graph, strict, resource, receiver, change_type=kinds).is_success
        over = subscribe(graph, strict, resource, receiver, change_type="deleted")
        assert "maximum number of subscriptions" in _error(over, 403, "ExtensionError")
