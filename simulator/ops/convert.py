"""ConvertId: only EwsId to EwsId is converted; exchangelib calls ConvertId to learn the server
version,
so the header matters more than the answer here."""

from __future__ import annotations

from lxml import etree

from simulator.context import Context
from simulator.errors import EwsError
from simulator.ids import decode_id
from simulator.ops.common import each, required
from simulator.soap import child, m, response_root, sub

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def convert_id(ctx: Context, request: etree._Element) -> etree._Element:
    """ConvertId: answer each AlternateId in EwsId format, or ErrorInvalidIdMalformed."""
    destination = request.get("DestinationFormat", "EwsId")
    sources = [
        e for e in required(child(request, "SourceIds"), "SourceIds") if isinstance(e.tag, str)
    ]
    root, container = response_root("ConvertId")

    def answer(message: etree._Element, source: etree._Element) -> None:
        known = decode_id(source.get("Id") or "") is not None
        if source.get("Format") != "EwsId" or destination != "EwsId" or not known:
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        holder = sub(message, m("AlternateId"), Format="EwsId", Id=source.get("Id") or "")
        holder.set("Mailbox", source.get("Mailbox") or "")
        holder.set(XSI_TYPE, "t:AlternateIdType")

    each(container, "ConvertId", sources, answer)
    return root
