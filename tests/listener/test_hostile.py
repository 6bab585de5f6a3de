"""Push bodies are hostile until checked: garbage, entity expansion, external entities, 50 MB.
Each is refused with a SOAP fault, nothing reaches the bus, and the listener keeps serving."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from mfr.settings import BusSettings
from simulator import Simulator
from tests.listener.conftest import Make, new_mailboxes
from tests.listener.test_push import push_listener

LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body>&lol9;</soap:Body></soap:Envelope>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body>&x;</soap:Body></soap:Envelope>"
)
NOT_A_NOTIFICATION = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body><hello/></soap:Body></soap:Envelope>"
)
BODIES = {
    "garbage": (b"\x00\xffnot xml at all", 400),
    "unclosed": (b"<soap:Envelope", 400),
    "entity expansion": (LAUGHS, 400),
    "external entity": (EXTERNAL, 400),
    "not SOAP": (b"<SendNotification/>", 400),
    "not a notification": (NOT_A_NOTIFICATION, 400),
    "50 MB": (b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>", 413),
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_bad_push_bodies_are_refused_and_the_listener_stays_up(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings, kind: str
) -> None:
    """A hostile body gets a SOAP fault with a reason; nothing is written; a real notification
    right after is still acknowledged and stored."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = push_listener(make_listener, embedded_bus, [mailbox])
    path = harness.listener.mode.callback_path(mailbox)  # type: ignore[union-attr]
    body, status = BODIES[kind]
    answer = httpx.post(harness.url + str(path), content=body, timeout=60,
                        headers={"Content-Type": "text/xml; charset=utf-8"})
    assert answer.status_code == status
    fault = etree.fromstring(answer.content)
    assert fault.findtext(".//faultstring")
    assert harness.get("/healthz").status_code == 200
    assert len(harness.changes.read()) == 1  # the initial resync only
    item_id = sim.control.create_item(mailbox, subject="still listening")
    harness.changes.until(lambda e: any(x["id"] == item_id for x in e), 30, "a real push")
    assert 'outcome="rejected"' in harness.get("/metrics").text
