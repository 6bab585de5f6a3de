"""Pull, streaming and push notifications, driven by exchangelib unmodified over real HTTP."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from exchangelib.errors import ErrorSubscriptionNotFound
from exchangelib.properties import CreatedEvent, ModifiedEvent, NewMailEvent, StatusEvent
from exchangelib.services import SendNotification
from lxml import etree

from simulator import Simulator
from tests.simulator.conftest import AccountFactory
from tests.simulator.raw import M, basic, code, envelope, post


def test_pull_subscription_gets_created_new_mail_and_modified(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """GetEvents returns Created + NewMail + Modified(folder) for a delivery, then a StatusEvent
    (notification-subscriptions-mailbox-events-and-ews-in-exchange.md)."""
    inbox = account(smtp).inbox
    subscription_id, watermark = inbox.subscribe_to_pull()
    item_id = sim.control.create_item(smtp, subject="hello")
    [notification] = list(inbox.get_events(subscription_id, watermark))
    kinds = [type(e) for e in notification.events]
    assert kinds == [CreatedEvent, NewMailEvent, ModifiedEvent]
    assert notification.events[0].item_id.id == item_id
    assert notification.previous_watermark == watermark
    last = notification.events[-1].watermark
    [idle] = list(inbox.get_events(subscription_id, last))
    assert [type(e) for e in idle.events] == [StatusEvent]
    inbox.unsubscribe(subscription_id)
    with pytest.raises(ErrorSubscriptionNotFound):
        list(inbox.get_events(subscription_id, last))


def test_pull_subscription_expires_after_its_timeout(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """A pull subscription not polled for Timeout minutes is gone (timeout.md)."""
    inbox = account(smtp).inbox
    subscription_id, watermark = inbox.subscribe_to_pull(timeout=1)
    sim.clock.advance(61)
    with pytest.raises(ErrorSubscriptionNotFound):
        list(inbox.get_events(subscription_id, watermark))


def test_watermark_older_than_thirty_days_is_invalid(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """Subscribing with a watermark from before the 30-day event window fails (watermark.md)."""
    inbox = account(smtp).inbox
    _, watermark = inbox.subscribe_to_pull()
    sim.control.create_item(smtp, subject="old")
    sim.clock.advance(31 * 24 * 3600)
    sim.control.create_item(smtp, subject="new")
    # Raw SOAP: exchangelib 5.6 sends m:Watermark, which the schema (and so Exchange) refuses.
    subscribe = envelope(
        "<m:Subscribe><m:PullSubscriptionRequest SubscribeToAllFolders='true'><t:EventTypes>"
        "<t:EventType>NewMailEvent</t:EventType></t:EventTypes>"
        f"<t:Watermark>{watermark}</t:Watermark><t:Timeout>10</t:Timeout>"
        "</m:PullSubscriptionRequest></m:Subscribe>",
        impersonate=smtp,
    )
    assert code(post(sim, subscribe)) == "ErrorInvalidWatermark"


def test_streaming_subscription_receives_a_change_made_through_control(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """GetStreamingEvents delivers, on a hanging connection, an item created meanwhile."""
    inbox = account(smtp).inbox
    subscription_id = inbox.subscribe_to_streaming()
    received: list[Any] = []

    def listen() -> None:
        stream = inbox.get_streaming_events(
            subscription_id, connection_timeout=1, max_notifications_returned=1
        )
        received.extend(stream)

    thread = threading.Thread(target=listen)
    thread.start()
    sim.control.create_item(smtp, subject="streamed")
    thread.join(timeout=20)
    assert not thread.is_alive()
    [notification] = received
    assert isinstance(notification.events[0], CreatedEvent)
    inbox.unsubscribe(subscription_id)


def test_streaming_connection_sends_keepalives_and_closes_at_timeout(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """The hanging response holds several SOAP envelopes: OK keep-alives, then Closed at
    ConnectionTimeout (getstreamingevents-operation.md)."""
    subscribed = post(
        sim,
        envelope(
            "<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders='true'>"
            "<t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>"
            "</m:StreamingSubscriptionRequest></m:Subscribe>",
            impersonate=smtp,
        ),
    )
    subscription_id = etree.fromstring(subscribed.content).findtext(f".//{{{M}}}SubscriptionId")
    body = envelope(
        f"<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>{subscription_id}"
        "</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout>"
        "</m:GetStreamingEvents>",
        impersonate=smtp,
    )
    statuses: list[str] = []
    with httpx.stream("POST", sim.endpoint_url, content=body, headers=_auth(sim), timeout=20) as r:
        buffer = b""
        for chunk in r.iter_bytes():
            buffer += chunk
            while b"</s:Envelope>" in buffer:
                doc, _, buffer = buffer.partition(b"</s:Envelope>")
                root = etree.fromstring(doc + b"</s:Envelope>")
                statuses.append(str(root.findtext(f".//{{{M}}}ConnectionStatus")))
                if len(statuses) == 3:
                    sim.clock.advance(61)
    assert statuses[:3] == ["OK", "OK", "OK"]
    assert statuses[-1] == "Closed"


def _auth(sim: Simulator) -> dict[str, str]:
    return {
        "Authorization": basic(sim.service_account, sim.service_password),
        "Content-Type": "text/xml; charset=utf-8",
    }


class _Listener(BaseHTTPRequestHandler):
    """A push listener answering with exchangelib's SendNotificationResult payloads."""

    answer = "OK"
    received: list[Any]
    parser: SendNotification

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        notifications = list(self.parser.parse(body))
        type(self).received.extend(notifications)
        payload = (
            self.parser.ok_payload() if self.answer == "OK" else self.parser.unsubscribe_payload()
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def listener(smtp: str, account: AccountFactory) -> Iterator[tuple[str, type[_Listener]]]:
    """A real HTTP callback server for push notifications."""
    parser = SendNotification(protocol=account(smtp).protocol)
    handler = type("Handler", (_Listener,), {"received": [], "answer": "OK", "parser": parser})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/push", handler
    finally:
        server.shutdown()
        server.server_close()


def _wait(condition: Any, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("condition not met in time")


def test_push_subscription_delivers_to_a_callback_and_stops_on_unsubscribe(
    sim: Simulator, smtp: str, account: AccountFactory, listener: tuple[str, type[_Listener]]
) -> None:
    """The server POSTs SendNotification; OK keeps it going, Unsubscribe ends the subscription
    (sendnotification.md, subscriptionstatus.md)."""
    url, handler = listener
    inbox = account(smtp).inbox
    subscription_id, _ = inbox.subscribe_to_push(url, status_frequency=1)
    item_id = sim.control.create_item(smtp, subject="pushed")
    _wait(lambda: any(n.events for n in handler.received))
    first = next(n for n in handler.received if n.events)
    assert first.subscription_id == subscription_id
    assert first.events[0].item_id.id == item_id
    handler.answer = "Unsubscribe"
    sim.control.create_item(smtp, subject="last one")
    _wait(lambda: not any(s["id"] == subscription_id for s in sim.control.subscriptions()))


def test_push_sends_status_events_and_retries_lost_deliveries(
    sim: Simulator, smtp: str, account: AccountFactory, listener: tuple[str, type[_Listener]]
) -> None:
    """A lost delivery is retried after the first retry interval, doubling after that, and an idle
    subscription gets a StatusEvent every StatusFrequency (statusfrequency.md)."""
    url, handler = listener
    inbox = account(smtp).inbox
    subscription_id, _ = inbox.subscribe_to_push(url, status_frequency=1)
    sim.faults.lose_push(2)
    sim.control.create_item(smtp, subject="retried")
    _wait(lambda: any(n.events for n in handler.received))
    # The simulator records a delivery once it has read (and validated) the answer: a moment
    # after the listener got the notification.
    _wait(lambda: len([d for d in sim.push.deliveries if d.subscription_id == subscription_id])
          >= 3)
    mine = [d for d in sim.push.deliveries if d.subscription_id == subscription_id]
    assert [d.outcome for d in mine[:3]] == ["lost", "lost", "OK"]
    gaps = [round(b.at - a.at, 1) for a, b in itertools.pairwise(mine)]
    assert gaps[0] >= 0.3
    assert gaps[1] >= 0.3
    sim.clock.advance(61)
    _wait(lambda: any(isinstance(e, StatusEvent) for n in handler.received for e in n.events))
    inbox.unsubscribe(subscription_id)


def test_unknown_subscription_on_get_events_is_not_found(sim: Simulator, smtp: str) -> None:
    """GetEvents with a subscription id the server never issued answers
    ErrorSubscriptionNotFound."""
    response = post(
        sim,
        envelope(
            "<m:GetEvents><m:SubscriptionId>bm9zdWNo</m:SubscriptionId>"
            "<m:Watermark>bm9zdWNo</m:Watermark></m:GetEvents>",
            impersonate=smtp,
        ),
    )
    assert b"ErrorSubscriptionNotFound" in response.content
