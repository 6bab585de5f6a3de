"""Hostile requests get a SOAP fault or an HTTP error, and the simulator keeps serving."""

from __future__ import annotations

import time

import httpx
import pytest

from simulator import Simulator
from tests.simulator.raw import basic, code, envelope, post

GET_INBOX = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    "<m:FolderIds><t:DistinguishedFolderId Id='inbox'/></m:FolderIds></m:GetFolder>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    b"<x>&lol9;</x></s:Body></s:Envelope>"
)


def _still_serving(sim: Simulator, smtp: str) -> None:
    assert code(post(sim, envelope(GET_INBOX, impersonate=smtp))) == "NoError"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<s:Envelope><unclosed>", "ErrorSchemaValidation"),
        (b"not xml at all", "ErrorSchemaValidation"),
        (LAUGHS, "ErrorSchemaValidation"),
        (envelope("<m:LaunchRockets/>"), "ErrorInvalidRequest"),
        (b'<?xml version="1.0"?><root/>', "ErrorSchemaValidation"),
    ],
    ids=["malformed", "not-xml", "billion-laughs", "unknown-operation", "not-soap"],
)
def test_bad_requests_get_a_soap_fault(
    sim: Simulator, smtp: str, body: bytes, expected: str
) -> None:
    """Malformed XML, entity expansion, non-SOAP, unknown operations: SOAP faults (HTTP 500)."""
    started = time.monotonic()
    response = post(sim, body)
    assert response.status_code == 500
    assert code(response) == expected
    assert time.monotonic() - started < 5, "entities must not be expanded"
    _still_serving(sim, smtp)


def test_fifty_megabyte_body_is_refused(sim: Simulator, smtp: str) -> None:
    """A 50 MB body is answered 413 without being parsed."""
    huge = envelope("<m:GetFolder>" + "x" * (50 * 1024 * 1024) + "</m:GetFolder>")
    response = httpx.post(
        sim.endpoint_url,
        content=huge,
        headers={"Authorization": basic(sim.service_account, sim.service_password)},
        timeout=60,
    )
    assert response.status_code == 413
    _still_serving(sim, smtp)


def test_garbage_credentials_and_bad_ids(sim: Simulator, smtp: str) -> None:
    """Undecodable credentials are a 401; a forged item id is ErrorInvalidIdMalformed."""
    bad = httpx.post(
        sim.endpoint_url, content=envelope(GET_INBOX), headers={"Authorization": "Basic %%%"}
    )
    assert bad.status_code == 401
    forged = (
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        "<m:ItemIds><t:ItemId Id='AAAAAAAA'/></m:ItemIds></m:GetItem>"
    )
    assert code(post(sim, envelope(forged, impersonate=smtp))) == "ErrorInvalidIdMalformed"
    bogus_version = envelope(GET_INBOX, impersonate=smtp, version="Exchange1999")
    assert code(post(sim, bogus_version)) == "ErrorInvalidServerVersion"
    _still_serving(sim, smtp)
