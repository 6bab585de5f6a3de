"""What an operator sees in Graph mode: a notification URL Graph cannot validate makes the
listener not ready and marks each mailbox Failing (/status and MailboxStatus records for the
admin page); a mailbox the application may not open fails with its cause and is retried only
slowly; hostile webhook bodies get precise 4xx answers, nothing is written, the listener keeps
serving; no secret reaches the logs."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from mfr.bus import Bus
from mfr.codec import Codec
from mfr.settings import BusSettings
from mfr.topics import Topic, topic_name
from simulator import Simulator
from tests.kafka.broker import free_port
from tests.listener.graph.conftest import Make, new_mailboxes
from tests.listener.harness import wait_for


def _statuses(bus: Bus, settings: BusSettings) -> list[dict[str, Any]]:
    consumer = bus.consumer(f"test-{uuid.uuid4().hex[:8]}", [topic_name(settings, Topic.STATUS)])
    consumer.seek_to_beginning()
    codec, found = Codec(), []
    try:
        while records := consumer.poll(max_records=1000, timeout_s=0.3):
            found += [codec.decode(r.value, "mfr.replication.MailboxStatus").datum for r in records]
    finally:
        consumer.close()
    return found


def test_a_notification_url_graph_cannot_validate_shows_everywhere(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Nothing answers at the configured URL: /readyz 503 with Graph's cause, each mailbox
    unsubscribed with the cause on /status and a Failing MailboxStatus of the Listener."""
    mailboxes = new_mailboxes(sim, 2)
    nowhere = f"http://127.0.0.1:{free_port()}"
    harness = make_listener(embedded_bus, mailboxes, graph={"notification_url": nowhere})
    ready = harness.get("/readyz")
    assert ready.status_code == 503
    assert "notification URL" in ready.json()["error"]
    assert "validation" in ready.json()["error"].lower()
    for mailbox in mailboxes:
        state = harness.get("/status").json()["mailboxes"][mailbox]
        assert state["subscribed"] is False
        assert "ValidationError" in state["last_error"]
    wait_for(
        lambda: (
            {s["mailbox"] for s in _statuses(harness.bus, embedded_bus) if s["state"] == "Failing"}
            == set(mailboxes)
        ),
        10,
        "Failing statuses",
    )
    [status, *_] = [s for s in _statuses(harness.bus, embedded_bus) if s["state"] == "Failing"]
    assert status["component"] == "Listener"
    assert "ValidationError" in status["last_error"]
    assert status["last_error_time"] is not None
    assert sim.graph.controls["subscriptions"]() == []
    assert 'mfr_listener_graph_errors_total{code="ValidationError",status="400"}' in (
        harness.get("/metrics").text
    )


def test_a_working_listener_reports_its_mailboxes_live(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Each subscribed mailbox gets one Live status of the Listener, not one per change."""
    mailboxes = new_mailboxes(sim, 2)
    harness = make_listener(embedded_bus, mailboxes)
    sim.control.create_item(mailboxes[0], "inbox", subject="one")
    harness.changes.until(lambda e: any(x["target"] == "Item" for x in e), 20, "a change")
    wait_for(lambda: len(_statuses(harness.bus, embedded_bus)) == 2, 10, "statuses")
    statuses = _statuses(harness.bus, embedded_bus)
    assert sorted((s["mailbox"], s["state"], s["last_error"]) for s in statuses) == [
        (m, "Live", None) for m in mailboxes
    ]


def test_a_mailbox_the_application_may_not_open_fails_with_its_cause_and_waits(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """403 from the application access policy: that mailbox is Failing with Graph's words and
    is not asked again in a tight loop; the others are served and the listener is ready."""
    allowed, refused = new_mailboxes(sim, 2)
    sim.graph.controls["register_app"](
        client_id="scoped-app", secret="scoped-secret", mailboxes=[allowed]
    )
    harness = make_listener(
        embedded_bus,
        [allowed, refused],
        app={"client_id": "scoped-app", "client_secret": "scoped-secret"},
    )
    state = harness.get("/status").json()["mailboxes"]
    assert state[allowed]["subscribed"] is True
    assert state[refused]["subscribed"] is False
    assert "Access to OData is disabled" in state[refused]["last_error"]
    assert harness.get("/readyz").status_code == 200

    def creates() -> list[object]:
        entries = sim.request_log.entries(operation="graph.subscription.create")
        return [e for e in entries if e.status == 403]

    assert len(creates()) == 1
    wait_for(
        lambda: any(
            s["mailbox"] == refused and s["state"] == "Failing"
            for s in _statuses(harness.bus, embedded_bus)
        ),
        10,
        "status",
    )
    time.sleep(1.5)  # several maintenance rounds and resubscribe_after_s (0.5 s) pass
    assert len(creates()) == 1
    assert 'mfr_listener_graph_errors_total{code="ErrorAccessDenied",status="403"}' in (
        harness.get("/metrics").text
    )


def test_an_application_the_identity_platform_refuses_is_not_ready(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """A wrong client secret: every mailbox fails with the AADSTS cause; not ready."""
    mailboxes = new_mailboxes(sim, 2)
    harness = make_listener(embedded_bus, mailboxes, app={"client_secret": "not-the-secret"})
    ready = harness.get("/readyz")
    assert ready.status_code == 503
    assert "no mailbox could be subscribed" in ready.json()["error"]
    assert "refused the application" in ready.json()["error"]
    assert "not-the-secret" not in ready.text


DEEP = b'{"value":[{"subscriptionId":"s","x":' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}]}"
BODIES: dict[str, tuple[bytes, str, int]] = {
    "garbage": (b"\x00\xffnot json", "application/json", 400),
    "not utf-8": (b'{"value":[{"subscriptionId":"\xff\xfe"}]}', "application/json", 400),
    "truncated": (b'{"value":[{"subscriptionId":', "application/json", 400),
    "very deep": (b"[" * 200_000 + b"]" * 200_000, "application/json", 400),
    "deep": (DEEP, "application/json", 400),
    "recursion": (b"[" * 100_000, "application/json", 400),
    "a list": (b"[1, 2]", "application/json", 400),
    "no value": (b'{"values": []}', "application/json", 400),
    "empty value": (b'{"value": []}', "application/json", 400),
    "not objects": (b'{"value": [1]}', "application/json", 400),
    "no subscription": (b'{"value": [{"changeType": "created"}]}', "application/json", 400),
    "number id": (b'{"value": [{"subscriptionId": 5}]}', "application/json", 400),
    "huge integer": (
        b'{"value": [{"subscriptionId": "s", "n": ' + b"9" * 5000 + b"}]}",
        "application/json",
        400,
    ),
    "bad resourceData": (
        b'{"value": [{"subscriptionId": "s", "resourceData": []}]}',
        "application/json",
        400,
    ),
    "xml": (b"<value/>", "text/xml", 415),
    "no type": (b'{"value": []}', "", 415),
    "2 MB": (b'{"value": ["' + b"x" * (2 * 1024 * 1024) + b'"]}', "application/json", 413),
}


def test_hostile_bodies_get_a_precise_4xx_and_nothing_is_written(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Each hostile body, on both paths: its 4xx with a reason, counted as rejected, nothing
    on the bus; the listener keeps serving, and a real notification after them is written."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])
    for kind, (body, content_type, status) in BODIES.items():
        for path in ("/graph/notifications", "/graph/lifecycle"):
            answer = harness.post(path, body, content_type)
            assert answer.status_code == status, (kind, answer.text)
            assert answer.text, kind
            assert answer.headers["content-type"].startswith("text/plain"), kind
    assert harness.get("/healthz").status_code == 200
    assert len(harness.changes.read()) == 1  # the start resync only
    item = sim.control.create_item(mailbox, "inbox", subject="still listening")
    immutable = sim.graph.controls["message_ids"](mailbox, item)["immutableId"]
    harness.changes.until(lambda e: any(x["id"] == immutable for x in e), 20, "a real change")
    rejected = f'mfr_listener_webhook_requests_total{{outcome="rejected"}} {2.0 * len(BODIES)}'
    assert rejected in harness.get("/metrics").text


def test_chunked_oversized_bodies_and_bad_tokens_are_refused(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """A body with no Content-Length is cut off at the limit (413); a validation token is
    echoed as text/plain only within its bound."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])

    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    answer = httpx.post(
        harness.url + "/graph/notifications",
        content=chunks(),
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    token = "Validation: <script>alert(1)</script> +x"
    echoed = httpx.post(
        harness.url + "/graph/notifications", params={"validationToken": token}, timeout=10
    )
    assert echoed.status_code == 200
    assert echoed.text == token
    assert echoed.headers["content-type"].startswith("text/plain")
    assert echoed.headers["x-content-type-options"] == "nosniff"
    too_long = httpx.post(
        harness.url + "/graph/lifecycle", params={"validationToken": "x" * 9000}, timeout=10
    )
    assert too_long.status_code == 400


def test_no_secret_reaches_the_logs(
    sim: Simulator,
    make_listener: Make,
    embedded_bus: BusSettings,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Client secret, clientState values and access tokens are never logged, through
    subscribing, changes, forgeries and lifecycle events."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])
    [sub] = sim.graph.controls["subscriptions"]()
    forged = {"value": [{"subscriptionId": sub["id"], "clientState": "forged-state-value"}]}
    harness.post("/graph/notifications", json.dumps(forged).encode())
    sim.control.create_item(mailbox, "inbox", subject="x")
    sim.graph.controls["lifecycle"](event="missed", ids=[sub["id"]])
    sim.graph.controls["remove_subscriptions"]([sub["id"]])
    events = harness.changes.until(
        lambda e: any(x["reason"] == "subscriptionRemoved" for x in e), 20, "recreated"
    )
    assert events
    [new] = sim.graph.controls["subscriptions"]()
    out, err = capfd.readouterr()
    logs = out + err
    assert "graph subscription created" in logs
    assert "webhook notification dropped" in logs
    secret = sim.settings.graph.client_secret.get_secret_value()
    for value in (
        secret,
        sub["clientState"],
        new["clientState"],
        "forged-state-value",
        "Bearer",
        "eyJ",
    ):
        assert value not in logs, value
