"""Requests messages.xsd refuses get what Exchange answers (issue 17): HTTP 500, a SOAP fault
ErrorSchemaValidation, and MessageXml saying where (LineNumber, LinePosition) and why (Violation);
nothing is acted on. responsecode.md: "ErrorSchemaValidation: This error occurs when the request
cannot be validated against the schema"."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from exchangelib.errors import ErrorSchemaValidation
from lxml import etree

from simulator import Simulator
from simulator import settings as settings_module
from simulator.errors import SimulatorError
from simulator.settings import SimulatorSection, schema_dir_of
from tests.simulator.conftest import AccountFactory
from tests.simulator.raw import T, code, envelope, post

ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
ALL_FOLDERS_NEW_MAIL = (
    "SubscribeToAllFolders='true'><t:EventTypes><t:EventType>NewMailEvent</t:EventType>"
    "</t:EventTypes>"
)

# (request body, the element the violation must point at)
INVALID = {
    "children-out-of-order": (
        "<m:FindItem Traversal='Shallow'><m:ParentFolderIds><t:DistinguishedFolderId Id='inbox'/>"
        "</m:ParentFolderIds><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        "</m:FindItem>",
        "m:ParentFolderIds",
    ),
    "unknown-element": (
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        "<m:FolderIds><t:DistinguishedFolderId Id='inbox'/></m:FolderIds><m:Shoe/></m:GetFolder>",
        "m:Shoe",
    ),
    "distinguished-folder-outside-the-enumeration": (
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        "<m:FolderIds><t:DistinguishedFolderId Id='inboxx'/></m:FolderIds></m:GetFolder>",
        "t:DistinguishedFolderId",
    ),
    "missing-max-changes-returned": (
        "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        "<m:SyncFolderId><t:DistinguishedFolderId Id='inbox'/></m:SyncFolderId>"
        "</m:SyncFolderItems>",
        "m:SyncFolderItems",
    ),
    "missing-subscription-timeout": (
        f"<m:Subscribe><m:PullSubscriptionRequest {ALL_FOLDERS_NEW_MAIL}"
        "</m:PullSubscriptionRequest></m:Subscribe>",
        "m:PullSubscriptionRequest",
    ),
    "missing-traversal": (
        "<m:FindFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        "<m:ParentFolderIds><t:DistinguishedFolderId Id='inbox'/></m:ParentFolderIds>"
        "</m:FindFolder>",
        "m:FindFolder",
    ),
    "watermark-in-the-messages-namespace": (
        f"<m:Subscribe><m:PushSubscriptionRequest {ALL_FOLDERS_NEW_MAIL}"
        "<m:Watermark>AQAAAA==</m:Watermark><t:StatusFrequency>1</t:StatusFrequency>"
        "<t:URL>http://127.0.0.1:9/push</t:URL></m:PushSubscriptionRequest></m:Subscribe>",
        "m:Watermark",
    ),
}


def _message_xml(response: httpx.Response) -> dict[str, str]:
    root = etree.fromstring(response.content)
    holder = root.find(f".//{{{T}}}MessageXml")
    assert holder is not None, response.text
    return {etree.QName(e).localname: e.text or "" for e in holder}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_schema_invalid_request_is_refused_with_where(
    sim: Simulator, smtp: str, case: str
) -> None:
    """Each of the seven invalid requests of issue 17 is an ErrorSchemaValidation fault whose
    LineNumber and LinePosition point at the offending element, and nothing is acted on."""
    body, culprit = INVALID[case]
    request = envelope(body, impersonate=smtp)
    subscriptions = len(sim.control.subscriptions())
    response = post(sim, request)
    assert response.status_code == 500
    assert code(response) == "ErrorSchemaValidation"
    root = etree.fromstring(response.content)
    assert root.findtext(f".//{{{ERRORS}}}ResponseCode") == "ErrorSchemaValidation"
    where = _message_xml(response)
    line, position = int(where["LineNumber"]), int(where["LinePosition"])
    assert request.decode().splitlines()[line - 1][position - 1 :].startswith(culprit)
    assert where["Violation"]
    assert len(sim.control.subscriptions()) == subscriptions
    assert sim.request_log.entries(mailbox=smtp)[-1].result == "ErrorSchemaValidation"


def test_position_counts_lines_and_characters(sim: Simulator, smtp: str) -> None:
    """On a multi-line request with non-ASCII text and a comment before the culprit, the line and
    position are those of the culprit's name (characters, 1-based)."""
    request = envelope(
        "<!-- <m:NotAnElement/> -->\n<m:GetFolder>\n  <m:FolderShape>"
        "<t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>\n  <m:FolderIds>"
        "<t:FolderId Id='été'/><t:Bogus/></m:FolderIds>\n</m:GetFolder>",
        impersonate=smtp,
    )
    where = _message_xml(post(sim, request))
    fourth = request.decode().splitlines()[3]
    assert where["LineNumber"] == "4"
    assert where["LinePosition"] == str(fourth.index("t:Bogus") + 1)


def test_exchangelib_reads_the_fault(sim: Simulator, smtp: str, account: AccountFactory) -> None:
    """exchangelib raises ErrorSchemaValidation with the line and position from MessageXml:
    its own m:Watermark in a pull Subscribe (exchangelib 5.6) is such a request."""
    inbox = account(smtp).inbox
    _, watermark = inbox.subscribe_to_pull()
    with pytest.raises(ErrorSchemaValidation, match=r"line: \d+ position: \d+"):
        inbox.subscribe_to_pull(watermark=watermark)


def test_the_schema_beside_the_project_is_found_and_its_absence_is_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Unset, ``schema_dir`` is the reference copy beside the project (as here and in CI, so
    every test runs strict); an installed simulator without it still serves, unvalidated, and
    says so; a configured folder without the schema is an error."""
    assert schema_dir_of(SimulatorSection()) == settings_module.DEFAULT_SCHEMA_DIR
    assert Simulator().ews.request_validator is not None
    monkeypatch.setattr(settings_module, "DEFAULT_SCHEMA_DIR", tmp_path / "nowhere")
    assert Simulator().ews.request_validator is None
    with pytest.raises(SimulatorError, match=r"no messages\.xsd"):
        Simulator(SimulatorSection(schema_dir=tmp_path))
