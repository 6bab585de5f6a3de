"""Push bodies come from the network: check them before exchangelib parses anything.

A body must be at most the configured size, well-formed XML, without a DOCTYPE (so no entity
declarations, internal or external: nothing to expand, nothing to fetch), and a SOAP envelope.
Anything else is answered with HTTP 400 (413 when too large) and a SOAP fault that says why.
"""

from __future__ import annotations

from lxml import etree

from mfr.xml import HARDENED_PARSER

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"



class BadNotificationError(ValueError):
    """A push body that is not acceptable; ``status`` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def check_envelope(body: bytes) -> None:
    """Raise ``BadNotificationError`` unless ``body`` is a plain, well-formed SOAP envelope."""
    if not body.strip():
        raise BadNotificationError("empty body")
    try:
        root = etree.fromstring(body, parser=HARDENED_PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadNotificationError(f"malformed XML: {exc.msg}") from exc
    info = root.getroottree().docinfo
    if getattr(info, "doctype", "") or info.internalDTD is not None:
        raise BadNotificationError("a DOCTYPE is not accepted (no entity declarations)")
    if root.tag != f"{{{SOAP}}}Envelope":
        raise BadNotificationError("not a SOAP 1.1 envelope")


def soap_fault(reason: str, code: str = "Client") -> bytes:
    """A SOAP 1.1 fault saying ``reason``."""
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    body = etree.SubElement(envelope, f"{{{SOAP}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"s:{code}"
    etree.SubElement(fault, "faultstring").text = reason
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))
