"""SOAP on the wire: parsing requests safely and building Exchange-shaped responses and faults.

Requests are hostile until checked: the parser never expands entities, never fetches anything, caps
tree size, and a request carrying a DTD at all is refused (Exchange refuses them too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from mfr.xml import HARDENED_PARSER
from simulator.errors import BadRequestError, EwsError

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP}
BODY_NSMAP = {"m": M, "t": T}


# Messages Exchange words its faults with (the text is informational; the code is what counts).
FAULT_TEXT = {
    "ErrorServerBusy": "The server cannot service this request right now. Try again later.",
    "ErrorImpersonateUserDenied": "The account does not have permission to impersonate the "
    "requested user.",
    "ErrorNonExistentMailbox": "The SMTP address has no mailbox associated with it.",
    "ErrorInvalidRequest": "The request is invalid.",
    "ErrorSchemaValidation": "The request failed schema validation.",
    "ErrorInvalidServerVersion": "The specified server version is invalid.",
    "ErrorInternalServerError": "An internal server error occurred. The operation failed.",
}


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed SOAP request: the operation element and what the header says."""

    operation: etree._Element
    requested_version: str | None
    impersonate: str | None
    envelope: etree._Element

    @property
    def name(self) -> str:
        """The operation's name, e.g. "GetItem"."""
        return etree.QName(self.operation).localname


def local(element: etree._Element) -> str:
    """An element's name without its namespace."""
    return etree.QName(element).localname


def child(element: etree._Element, name: str) -> etree._Element | None:
    """The first child with this local name, in whatever namespace (clients differ: exchangelib
    sends m:Watermark where the schema says t:Watermark)."""
    for sub in element:
        if isinstance(sub.tag, str) and etree.QName(sub).localname == name:
            return sub
    return None


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Every child with this local name, in whatever namespace."""
    return [
        sub for sub in element if isinstance(sub.tag, str) and etree.QName(sub).localname == name
    ]


def text_of(element: etree._Element, name: str) -> str | None:
    """The stripped text of the first child with this local name."""
    found = child(element, name)
    return None if found is None or found.text is None else found.text.strip()


def parse_request(raw: bytes) -> SoapRequest:
    """Parse a request body; malformed or non-SOAP input raises BadRequestError."""
    try:
        tree = etree.fromstring(raw, parser=HARDENED_PARSER).getroottree()
    except etree.XMLSyntaxError as exc:
        raise BadRequestError(f"malformed XML: {exc}") from exc
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise BadRequestError("a DTD is not allowed in a SOAP request")
    root = tree.getroot()
    if root.tag != f"{{{SOAP}}}Envelope":
        raise BadRequestError("not a SOAP 1.1 envelope")
    body = root.find(f"{{{SOAP}}}Body")
    operations = [] if body is None else [e for e in body if isinstance(e.tag, str)]
    if len(operations) != 1:
        raise BadRequestError("the SOAP body must hold exactly one operation")
    header = root.find(f"{{{SOAP}}}Header")
    version = impersonate = None
    if header is not None:
        rsv = child(header, "RequestServerVersion")
        version = None if rsv is None else rsv.get("Version")
        imp = child(header, "ExchangeImpersonation")
        sid = None if imp is None else child(imp, "ConnectingSID")
        if sid is not None:
            impersonate = next(
                (s.text.strip() for s in sid if isinstance(s.tag, str) and s.text), ""
            )
    return SoapRequest(operations[0], version, impersonate, root)


def m(tag: str) -> str:
    """A messages-namespace name."""
    return f"{{{M}}}{tag}"


def t(tag: str) -> str:
    """A types-namespace name."""
    return f"{{{T}}}{tag}"


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a child (``tag`` is a Clark name) with optional text and attributes."""
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def response_root(operation: str) -> tuple[etree._Element, etree._Element]:
    """A ``<m:{operation}Response>`` element and its ResponseMessages container."""
    root = etree.Element(m(f"{operation}Response"), nsmap=BODY_NSMAP)
    return root, sub(root, m("ResponseMessages"))


def success_message(container: etree._Element, operation: str) -> etree._Element:
    """A successful ``{operation}ResponseMessage``."""
    message = sub(container, m(f"{operation}ResponseMessage"), ResponseClass="Success")
    sub(message, m("ResponseCode"), "NoError")
    return message


def error_message(container: etree._Element, operation: str, error: EwsError) -> etree._Element:
    """An error ``{operation}ResponseMessage``."""
    message = sub(container, m(f"{operation}ResponseMessage"), ResponseClass="Error")
    sub(message, m("MessageText"), error.message)
    sub(message, m("ResponseCode"), error.code)
    sub(message, m("DescriptiveLinkKey"), "0")
    if error.back_off_ms is not None:
        xml = sub(message, m("MessageXml"))
        sub(xml, t("Value"), str(error.back_off_ms), Name="BackOffMilliseconds")
    return message


def envelope(body: etree._Element, server_version: dict[str, str] | None) -> bytes:
    """A complete response document around ``body``, with ServerVersionInfo when given."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    if server_version is not None:
        header = sub(root, f"{{{SOAP}}}Header")
        etree.SubElement(header, t("ServerVersionInfo"), server_version, nsmap={"h": T})
    sub(root, f"{{{SOAP}}}Body").append(body)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def fault(error: EwsError) -> bytes:
    """A SOAP fault carrying an EWS response code, as Exchange sends with HTTP 500."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    body = sub(root, f"{{{SOAP}}}Body")
    fault_el = sub(body, f"{{{SOAP}}}Fault")
    code_el = etree.SubElement(fault_el, "faultcode", nsmap={"a": T})
    code_el.text = f"a:{error.code}"
    text = sub(fault_el, "faultstring", error.message or FAULT_TEXT.get(error.code, error.code))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    detail = sub(fault_el, "detail")
    etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = error.code
    etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = error.message
    if error.back_off_ms is not None:
        xml = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        sub(xml, t("Value"), str(error.back_off_ms), Name="BackOffMilliseconds")
    if error.violation is not None:
        # Where and why, as Exchange reports a request that fails schema validation.
        xml = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        sub(xml, t("LineNumber"), str(error.violation.line))
        sub(xml, t("LinePosition"), str(error.violation.position))
        sub(xml, t("Violation"), error.violation.text)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def ews_datetime(value: datetime) -> str:
    """A UTC timestamp the way EWS writes it: 2024-05-01T10:00:00Z."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None, microsecond=0).isoformat() + "Z"
