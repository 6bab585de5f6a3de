"""Graph's JSON read into the extractor's snapshots: EWS's spellings, extended properties matched
by type and number however Graph spells their ids."""

from __future__ import annotations

from datetime import UTC, datetime

from extractor import graphmodel
from extractor.model import Address


def message(**extra: object) -> dict[str, object]:
    return {
        "id": "AAkALg==",
        "parentFolderId": "AQMkAD",
        "changeKey": "CQAAAB",
        "subject": "Budget",
        "importance": "high",
        "isRead": True,
        "flag": {"flagStatus": "flagged"},
        "categories": ["Blue"],
        "hasAttachments": False,
        "internetMessageId": "<m1@contoso.com>",
        "conversationId": "AAQkAD",
        "sender": {"emailAddress": {"name": "Ann", "address": "ann@contoso.com"}},
        "from": {"emailAddress": {"name": "Ann", "address": "ann@contoso.com"}},
        "toRecipients": [{"emailAddress": {"name": "Bob", "address": "bob@contoso.com"}}],
        "ccRecipients": [],
        "bccRecipients": [],
        "receivedDateTime": "2026-11-20T09:00:00Z",
        "sentDateTime": "2026-11-20T08:59:59.1234567Z",
        "singleValueExtendedProperties": [
            {"id": "Integer 0x36", "value": "2"},
            {"id": "String 0x1a", "value": "IPM.Note"},
            {"id": "Integer 0xe08", "value": "2048"},
            {"id": "Binary 0x300b", "value": "c2s="},
        ],
        **extra,
    }


def test_a_message_reads_as_ews_would_give_it() -> None:
    item = graphmodel.item(message())
    assert (item.item_id, item.parent_folder_id, item.change_key) == (
        "AAkALg==",
        "AQMkAD",
        "CQAAAB",
    )
    assert (item.sensitivity, item.item_class, item.size, item.search_key) == (
        "Private",
        "IPM.Note",
        2048,
        "c2s=",
    )
    assert (item.importance, item.flag_status, item.is_read) == ("High", "Flagged", True)
    assert item.sender == item.author == Address("Ann", "ann@contoso.com", "SMTP")
    assert item.to_recipients == (Address("Bob", "bob@contoso.com", "SMTP"),)
    assert item.datetime_received == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert item.datetime_sent == datetime(2026, 11, 20, 8, 59, 59, 123000, tzinfo=UTC)


def test_missing_properties_are_none_not_guesses() -> None:
    item = graphmodel.item({"id": "x", "singleValueExtendedProperties": []})
    assert (item.sensitivity, item.item_class, item.size, item.flag_status) == (
        None,
        None,
        None,
        None,
    )
    assert item.parent_folder_id == ""


def test_extended_property_ids_match_by_type_and_number() -> None:
    entity = {"singleValueExtendedProperties": [{"id": "String 0x3613", "value": "IPF.Note"}]}
    assert graphmodel.extended(entity, "string 0x3613") == "IPF.Note"
    assert graphmodel.extended(entity, graphmodel.CONTAINER_CLASS) == "IPF.Note"
    assert graphmodel.extended(entity, "Integer 0x3613") is None


def test_the_query_selects_metadata_only() -> None:
    select = graphmodel.MESSAGE_QUERY["$select"].split(",")
    assert "body" not in select
    assert "uniqueBody" not in select
    assert {"subject", "parentFolderId", "internetMessageId", "changeKey"} <= set(select)
    assert graphmodel.MESSAGE_QUERY["$expand"] == (
        "singleValueExtendedProperties($filter=id eq 'Integer 0x0036' or id eq 'String 0x001A' "
        "or id eq 'Integer 0x0E08' or id eq 'Binary 0x300B')"
    )
