"""GetItem's answer read straight from its XML into ``ItemSnapshot``s.

exchangelib still sends the request (session, auth, impersonation, error answers) and parses the
SOAP envelope with lxml; what this module replaces is only the step after that, exchangelib's
object model: building a ``Message`` with its fields, ``EWSDateTime``s and ``Mailbox``es for every
item, only to copy out the few values we keep. That step was most of the
extractor's CPU in an initial sync. The meaning stays the one exchangelib gives each element
(types.xsd's ItemType and MessageType): empty text reads as absent, booleans are ``true``/``false``
(exchangelib also takes ``on``/``off``), a date without a zone is UTC (the request's
TimeZoneContext), and extended properties are matched by tag and type.
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

from exchangelib.services import GetItem
from exchangelib.services.common import shape_element
from exchangelib.util import TNS, create_element

from extractor.model import Address, ItemSnapshot
from mfr.ews.values import read_datetime, read_int, type_children

FLAG_STATUS = {0: "NotFlagged", 1: "Complete", 2: "Flagged"}
SEARCH_KEY = (0x300B, "Binary")  # PR_SEARCH_KEY: kept by a moved message, shared by copies
FLAG = (0x1090, "Integer")  # PR_FLAG_STATUS: the flag on every Exchange version
_BOOLEANS = {"true": True, "on": True, "false": False, "off": False}
_T = f"{{{TNS}}}"
_MAILBOX, _STRING = f"{_T}Mailbox", f"{_T}String"


class SnapshotGetItem(GetItem):  # type: ignore[misc]
    """exchangelib's GetItem, answering ``ItemSnapshot``s instead of exchangelib items (error
    answers still come back as exchangelib's exception instances, as ``account.fetch`` gives)."""

    def __init__(self, *args: Any, item_shape: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._item_shape = item_shape  # an ``m:ItemShape`` made once by the caller, or None

    def _elem_to_obj(self, elem: Any) -> ItemSnapshot:
        return snapshot(elem)

    def get_payload(self, items: Any, additional_fields: Any, shape: Any) -> Any:
        """exchangelib's payload, the ids written straight as ``t:ItemId`` elements: its own
        way makes an ``ItemId`` object per id and serialises it field by field. The shape (a
        dozen field paths, each serialised by exchangelib) is the caller's, made once, when
        given: an element has one parent, so a copy goes in."""
        payload = create_element(f"m:{self.SERVICE_NAME}")
        payload.append(copy.deepcopy(self._item_shape) if self._item_shape is not None
                       else item_shape(additional_fields, shape, self.account.version))
        ids = create_element("m:ItemIds")
        for item_id, change_key in items:
            ids.append(create_element("t:ItemId", attrs={"Id": item_id, "ChangeKey": change_key}
                                      if change_key else {"Id": item_id}))
        payload.append(ids)
        return payload


def item_shape(additional_fields: Any, shape: Any, version: Any) -> Any:
    """GetItem's ``m:ItemShape`` element for these field paths."""
    return shape_element(tag="m:ItemShape", shape=shape, additional_fields=additional_fields,
                         version=version)


def snapshot(elem: Any) -> ItemSnapshot:
    """The metadata of one item element (``t:Message`` or any other item type)."""
    values: dict[str, Any] = {}
    categories: tuple[str, ...] = ()
    item_id = change_key = parent = conversation = None
    for name, child in type_children(elem):
        if name == "ItemId":
            item_id, change_key = child.get("Id"), child.get("ChangeKey")
        elif name == "ParentFolderId":
            parent = child.get("Id")
        elif name == "ConversationId":
            conversation = child.get("Id")
        elif name == "Categories":
            categories = tuple(s.text for s in child if s.tag == _STRING and s.text is not None)
        elif name in _RECIPIENTS:
            values[_RECIPIENTS[name]] = tuple(
                _address(m) for m in child if m.tag == _MAILBOX)
        elif name in _MAILBOXES:
            mailbox = child.find(_MAILBOX)
            values[_MAILBOXES[name]] = _address(mailbox) if mailbox is not None else None
        elif name == "ExtendedProperty":
            _extended(child, values)
        elif name in _SCALARS:
            field, convert = _SCALARS[name]
            text = child.text or None
            values[field] = convert(text) if text is not None else None
    return ItemSnapshot(
        item_id=item_id or "", parent_folder_id=parent or "", change_key=change_key,
        item_class=values.pop("item_class", None), categories=categories,
        conversation_id=conversation, **values,
    )


def _address(mailbox: Any) -> Address:
    found: dict[str, str | None] = {"Name": None, "EmailAddress": None, "RoutingType": None}
    for name, child in type_children(mailbox):
        if name in found:
            found[name] = child.text or None
    return Address(found["Name"], found["EmailAddress"], found["RoutingType"])


def _extended(prop: Any, values: dict[str, Any]) -> None:
    uri = prop.find(f"{_T}ExtendedFieldURI")
    value = prop.find(f"{_T}Value")
    if uri is None or value is None or not value.text:
        return
    try:
        kind = (int(uri.get("PropertyTag") or "", 0), uri.get("PropertyType"))
    except ValueError:
        return
    if kind == SEARCH_KEY:
        values["search_key"] = _binary(value.text)
    elif kind == FLAG:
        try:
            values["flag_status"] = FLAG_STATUS.get(int(value.text), "NotFlagged")
        except ValueError:
            values["flag_status"] = None


def _binary(text: str) -> str | None:
    """Base64 as exchangelib would decode and we would encode it again: canonical padding."""
    try:
        return base64.b64encode(base64.b64decode(text)).decode()
    except (binascii.Error, ValueError):
        return None


def read_bool(text: str) -> bool | None:
    """An xs:boolean as exchangelib reads it (also ``on``/``off``); None if it is none."""
    return _BOOLEANS.get(text.lower())


def _text(text: str) -> str:
    return text


_SCALARS: dict[str, tuple[str, Any]] = {
    "ItemClass": ("item_class", _text),
    "Subject": ("subject", _text),
    "Sensitivity": ("sensitivity", _text),
    "Importance": ("importance", _text),
    "InternetMessageId": ("internet_message_id", _text),
    "DateTimeSent": ("datetime_sent", read_datetime),
    "DateTimeReceived": ("datetime_received", read_datetime),
    "DateTimeCreated": ("datetime_created", read_datetime),
    "LastModifiedTime": ("last_modified_time", read_datetime),
    "Size": ("size", read_int),
    "IsRead": ("is_read", read_bool),
    "HasAttachments": ("has_attachments", read_bool),
}
_MAILBOXES = {"Sender": "sender", "From": "author"}
_RECIPIENTS = {"ToRecipients": "to_recipients", "CcRecipients": "cc_recipients",
               "BccRecipients": "bcc_recipients"}
