"""Raw SOAP over HTTP for tests that need what exchangelib cannot send or does not show."""

from __future__ import annotations

import base64

import httpx
from lxml import etree

from simulator import Simulator

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


def basic(user: str, password: str) -> str:
    """A Basic Authorization header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def envelope(body: str, impersonate: str | None = None, version: str = "Exchange2016") -> bytes:
    """A SOAP request around ``body`` (which may use the m: and t: prefixes)."""
    who = ""
    if impersonate:
        who = (
            "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>"
            f"{impersonate}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:m="{M}" '
        f'xmlns:t="{T}"><s:Header><t:RequestServerVersion Version="{version}"/>{who}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def post(sim: Simulator, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST to the EWS endpoint as the service account."""
    sent = {
        "Authorization": basic(sim.service_account, sim.service_password),
        "Content-Type": "text/xml; charset=utf-8",
    }
    sent.update(headers or {})
    return httpx.post(sim.endpoint_url, content=body, headers=sent, timeout=30)


def code(response: httpx.Response) -> str:
    """The first ResponseCode (or fault ResponseCode) in a response."""
    root = etree.fromstring(response.content)
    found = root.find(f".//{{{M}}}ResponseCode")
    if found is None:
        found = root.find(
            ".//{http://schemas.microsoft.com/exchange/services/2006/errors}ResponseCode"
        )
    assert found is not None, response.text
    return str(found.text)
