"""The shadow check: one mailbox replicated once through EWS and once through Graph gives the same
states — the same folder tree, the same messages with the same metadata in the same folders,
deleted and withdrawn alike (ids aside, and the delete kinds only Graph can tell)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mfr.ews import EwsConnection, ExchangeSettings, RetryPolicy
from mfr.graph import GraphClient
from simulator import Simulator
from simulator.graph.ids import to_graph
from tests.extractor.conftest import PASSWORD, SERVICE
from tests.extractor.harness import Extraction

# Differ by nature: ids and their keys, when a record was made, which API made it.
_IDS = {
    "message_key",
    "item_id",
    "change_key",
    "folder_key",
    "last_known_folder_key",
    "parent_folder_key",
    "folder_id",
    "version",
    "observed_time",
    "exchange_api",
    "deleted_time",
    "withdrawn_time",
}
# EWS sync cannot tell a soft from a hard delete (both just vanish); Graph's immutable ids can.
_EWS_KINDS = {"SoftDeleted": "Unknown", "HardDeleted": "Unknown"}


def _folder_view(state: dict[str, Any], to: dict[str, str]) -> dict[str, Any]:
    view = {k: v for k, v in state.items() if k not in _IDS}
    view["parent"] = to.get(state["parent_folder_key"] or "", state["parent_folder_key"])
    return view


def _message_view(state: dict[str, Any], to: dict[str, str]) -> tuple[Any, ...]:
    view = {k: v for k, v in state.items() if k not in _IDS}
    view["conversation_id"] = None  # each API encodes it its own way
    view["delete_kind"] = _EWS_KINDS.get(state["delete_kind"], state["delete_kind"])
    view["folder"] = to.get(state["folder_key"] or "", state["folder_key"])
    view["last_known"] = to.get(state["last_known_folder_key"], state["last_known_folder_key"])
    return tuple(sorted((k, repr(v)) for k, v in view.items()))


def test_ews_and_graph_replicate_a_mailbox_alike(
    sim: Simulator,
    client: GraphClient,
    smtp: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_file))  # exchangelib trusts the sim's CA
    settings = ExchangeSettings.model_validate(
        {
            "endpoint": sim.endpoint_url,
            "auth": "basic",
            "service_account": SERVICE,
            "password": PASSWORD,
            "version": "Exchange2016",
        }
    )
    ews = Extraction(
        EwsConnection(settings, policy=RetryPolicy(attempts=3, first_wait_s=0.01)),
        smtp,
        tmp_path / "ews",
    )
    graph = Extraction(client, smtp, tmp_path / "graph")
    c = sim.control
    projects = c.create_folder(smtp, "inbox", "Projects")
    doomed = c.create_folder(smtp, "inbox", "Doomed")
    c.create_folder(smtp, "msgfolderroot", "Tasks too", folder_class="IPF.Task")
    items = [
        c.create_item(
            smtp,
            "inbox",
            subject=f"m{n}",
            is_read=n % 2 == 0,
            categories=["Red"] if n % 3 == 0 else [],
            importance="High" if n == 4 else "Normal",
            sender={"name": "Ann Example", "email": "ann@example.com"},
            to=[{"name": "Bob", "email": "bob@sim.example"}],
            cc=[{"name": "Cy", "email": "cy@sim.example"}] if n % 2 else [],
            has_attachments=n == 8,
            size=1000 + n,
            sent="2026-11-20T09:00:00Z",
        )
        for n in range(9)
    ]
    c.create_item(smtp, projects, subject="stub", item_class="IPM.Note.MimecastStub")
    c.create_item(smtp, doomed, subject="inside")
    c.create_item(smtp, "inbox", subject="private", sensitivity="Private")
    c.create_item(smtp, "inbox", subject="meeting", item_class="IPM.Schedule.Meeting.Request")
    for extraction in (ews, graph):
        extraction.run()
    c.move_item(smtp, items[0], projects)
    c.copy_item(smtp, items[1], "archive")
    c.delete_item(smtp, items[2], "MoveToDeletedItems")
    c.delete_item(smtp, items[3], "SoftDelete")
    c.delete_item(smtp, items[4], "HardDelete")
    c.update_item(smtp, items[5], sensitivity="Private")
    c.update_item(smtp, items[6], is_read=True, flag="Flagged", categories=["Blue"])
    c.delete_item(smtp, items[7], "MoveToDeletedItems")
    for extraction in (ews, graph):
        extraction.run(full=True)
    c.empty_folder(smtp, "deleteditems")
    c.delete_folder(smtp, doomed, "MoveToDeletedItems")
    c.rename_folder(smtp, projects, "Projects 2026")
    for extraction in (ews, graph):
        extraction.run(full=True)

    to = {f: to_graph(f) for f in ews.folders()}  # EWS folder id -> Graph folder id
    ews_folders = {to[k]: _folder_view(f, to) for k, f in ews.folders().items()}
    graph_folders = {k: _folder_view(f, {}) for k, f in graph.folders().items()}
    assert graph_folders == ews_folders
    ews_messages = sorted(_message_view(m, to) for m in ews.messages())
    graph_messages = sorted(_message_view(m, {}) for m in graph.messages())
    assert graph_messages == ews_messages
    assert len(graph_messages) == 12  # nine, a copy, the stub and the one inside
    assert sum(m["withdrawn"] for m in graph.messages()) == 1
    assert sum(m["deleted"] for m in graph.messages()) == 5  # three deletes, emptied, folder
    ews.close()
    graph.close()


def test_switching_an_ews_deployment_to_graph_starts_over_cleanly(
    sim: Simulator,
    client: GraphClient,
    smtp: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The EWS SyncStates on the bus and the EWS folder tree in the store are no resume point for
    Graph: the Graph source lists the mailbox from scratch (no request carries an EWS state) and
    replicates it completely, and destroys nothing the EWS source wrote."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_file))
    settings = ExchangeSettings.model_validate(
        {
            "endpoint": sim.endpoint_url,
            "auth": "basic",
            "service_account": SERVICE,
            "password": PASSWORD,
            "version": "Exchange2016",
        }
    )
    for n in range(3):
        sim.control.create_item(smtp, "inbox", subject=f"m{n}")
    ews = Extraction(EwsConnection(settings, policy=RetryPolicy(attempts=3)), smtp, tmp_path)
    ews.run()
    ews.producer.close()
    ews.store.close()
    ews.connection = client
    ews.restart()
    ews.run(full=True)
    graph_log = sim.request_log.entries(mailbox=smtp)
    assert all(e.status == 200 for e in graph_log if e.operation.startswith("graph."))
    records = ews.messages()
    by_api = {
        api: sorted(m["subject"] for m in records if m["exchange_api"] == api)
        for api in ("Ews", "Graph")
    }
    assert by_api == {"Ews": ["m0", "m1", "m2"], "Graph": ["m0", "m1", "m2"]}
    assert not any(m["deleted"] for m in records)
    assert not any(f["deleted"] for f in ews.folders().values())
    ews.close()
