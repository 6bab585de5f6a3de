"""The drift check on a Graph mailbox: ``GraphReader.classes`` counts a folder through its message
list (1,000 a request, only what the filters need), and a sync cycle with ``drift`` finds a
folder whose count differs from the archive's and reads it again, until both agree.

The archive is a stand-in for its ingest API (``GET /api/ingest/v1/counts/{mailbox}``, ``POST
/api/ingest/v1/drift``) that shows what the extractor published, as the publisher would deliver
it; ``tests/pipeline/test_repair.py`` runs the real archive with an EWS mailbox. Every JSON body
Graph answers here is checked against the v1.0 CSDL, as the simulator's own tests do."""

from __future__ import annotations

import json
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from extractor.drift import ArchiveCounts, DriftCheck, DriftSettings
from extractor.graphreader import GraphReader
from extractor.requests import SyncRequest
from mfr.graph import GraphClient
from simulator import Simulator
from tests.extractor.graph.conftest import FAST
from tests.extractor.graph.truth import folder, graph_truth
from tests.extractor.harness import Extraction
from tests.extractor.truth import problems
from tests.graph.simulated import graph_settings
from tests.simulator.graph.csdl import check_body

BULK = 1_000  # one full page of the count
TOKEN = "ingest-token"  # the stand-in archive's own
SETTINGS = DriftSettings(
    interval_s=1.0,
    settle_s=0.0,
    archive_url="https://archive.test",
    archive_token=SecretStr(TOKEN),
)


class _CsdlChecked(httpx.BaseTransport):
    """Graph's answers, each JSON body checked against the CSDL before the client reads it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if "json" in response.headers.get("content-type", ""):
            response.read()
            check_body(response.json())
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.fixture(scope="module")
def checked(sim: Simulator) -> Iterator[GraphClient]:
    """A production ``GraphClient`` whose every Graph answer goes through the CSDL check."""
    trusted = ssl.create_default_context(cafile=str(sim.ca_file))
    transport = _CsdlChecked(httpx.HTTPTransport(verify=trusted))
    made = GraphClient(graph_settings(sim), policy=FAST, transport=transport)
    yield made
    made.close()


class StandInArchive:
    """The archive's side of the check: per folder, the messages the extractor published there
    (latest state per key, not withdrawn), less rows removed behind the pipeline's back, until
    a newer version of them arrives (as the archive would store it again)."""

    def __init__(self, ex: Extraction) -> None:
        self._ex = ex
        self._removed: dict[str, int] = {}  # message key -> version it had when removed
        self.reports: list[dict[str, Any]] = []

    def remove(self, message_key: str) -> None:
        """A row gone from the archive (a restore, a manual delete)."""
        self._removed[message_key] = next(
            m["version"] for m in self._ex.messages() if m["message_key"] == message_key
        )

    def counts(self) -> dict[str, int]:
        shown: Counter[str] = Counter({key: 0 for key in self._ex.folders()})
        for m in self._ex.messages():
            gone = m["version"] <= self._removed.get(m["message_key"], -1)
            if m["folder_key"] and not m["withdrawn"] and not gone:
                shown[m["folder_key"]] += 1
        return dict(shown)

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        if request.method == "GET" and request.url.path.startswith("/api/ingest/v1/counts/"):
            return httpx.Response(200, json={"folders": self.counts()})
        assert (request.method, request.url.path) == ("POST", "/api/ingest/v1/drift")
        self.reports.append(json.loads(request.content))
        return httpx.Response(200, json={"recorded": len(self.reports[-1]["differing"])})


def listed(sim: Simulator, smtp: str) -> int:
    """Message list requests Graph answered for the mailbox."""
    return len(sim.request_log.entries(operation="graph.message.list", mailbox=smtp))


def test_classes_reads_a_folder_a_thousand_at_a_time(
    sim: Simulator, checked: GraphClient, smtp: str
) -> None:
    """Every message's class and sensitivity, a non-mail class and a Private one among them,
    over two pages: the first a full thousand."""
    bulk = sim.control.create_folder(smtp, "inbox", "Bulk")
    for n in range(BULK):
        sim.control.create_item(smtp, bulk, subject=f"m{n}", new_mail=False)
    sim.control.create_item(smtp, bulk, subject="Mine", sensitivity="Private", new_mail=False)
    sim.control.create_item(
        smtp, bulk, subject="Meet", item_class="IPM.Schedule.Meeting.Request", new_mail=False
    )
    sim.control.create_item(
        smtp, bulk, item_class="IPM.Note.MimecastStub", sensitivity="Confidential", new_mail=False
    )
    reader = GraphReader(checked, smtp)
    assert Counter(reader.classes(folder(sim, smtp, bulk))) == {
        ("IPM.Note", "Normal"): BULK,
        ("IPM.Note", "Private"): 1,
        ("IPM.Schedule.Meeting.Request", "Normal"): 1,
        ("IPM.Note.MimecastStub", "Confidential"): 1,
    }
    assert listed(sim, smtp) == reader.gets.round_trips == 2  # one request per page
    assert reader.classes(folder(sim, smtp, "drafts")) == []


def test_the_drift_check_finds_and_repairs_a_graph_mailbox(
    sim: Simulator, checked: GraphClient, smtp: str, tmp_path: Path
) -> None:
    """A row removed from the archive and a message the extractor never heard of (its
    notification lost) come back by the drift check alone, keys kept, nothing duplicated;
    Private messages and meeting requests never count; a folder gone since the tree was read
    fails nothing."""
    sim.control.create_item(smtp, subject="Quarterly numbers", new_mail=False)
    sim.control.create_item(smtp, subject="Lunch on Friday", new_mail=False)
    sim.control.create_item(smtp, subject="Private matter", sensitivity="Private", new_mail=False)
    sim.control.create_item(
        smtp, subject="Meeting", item_class="IPM.Schedule.Meeting.Request", new_mail=False
    )
    projects = sim.control.create_folder(smtp, "inbox", "Projects")
    ex = Extraction(checked, smtp, tmp_path)
    ex.run()
    archive = StandInArchive(ex)
    results: list[str] = []
    counts = ArchiveCounts(SETTINGS, transport=httpx.MockTransport(archive.handle))
    ex.sync.drift = DriftCheck(counts, SETTINGS, counted=lambda result, n: results.append(result))

    before = listed(sim, smtp)
    same = ex.sync.run(SyncRequest(smtp, drift=True))
    assert (same.drifted, same.rescanned, results) == (0, 0, ["same"])
    checked_folders = archive.reports[-1]["checked"]
    assert checked_folders == len(ex.folders()) >= 2
    assert listed(sim, smtp) - before == checked_folders  # one request per (small) folder

    lunch = next(m for m in ex.messages() if m["subject"] == "Lunch on Friday")
    archive.remove(lunch["message_key"])
    sim.control.create_item(smtp, subject="Never notified", new_mail=False)
    repaired = ex.sync.run(SyncRequest(smtp, drift=True))
    inbox = folder(sim, smtp, "inbox")
    assert (repaired.drifted, repaired.rescanned, results[-1]) == (1, 1, "drift")
    assert archive.reports[-1]["differing"] == [{"folder_key": inbox, "exchange": 3, "archive": 1}]
    live = {m["subject"]: m for m in ex.messages() if not m["deleted"] and not m["withdrawn"]}
    assert set(live) == {"Quarterly numbers", "Lunch on Friday", "Never notified"}
    assert live["Lunch on Friday"]["message_key"] == lunch["message_key"]
    assert live["Lunch on Friday"]["version"] > lunch["version"]  # published again
    assert len(ex.messages()) == 3
    assert problems(graph_truth(sim, smtp), ex.messages(), ex.folders()) == []

    sim.control.delete_folder(smtp, projects)  # the tree still holds it: no hierarchy sync
    again = ex.sync.run(SyncRequest(smtp, drift=True))
    assert (again.drifted, again.rescanned, results[-1]) == (0, 0, "same")
    assert archive.reports[-1]["checked"] == checked_folders - 1
    ex.close()


@pytest.mark.parametrize("value", ["not a list", [1, 2], {"id": "x"}])
def test_a_malformed_count_page_is_a_clear_error_not_a_crash(value: object) -> None:
    """A message list whose ``value`` is not a list of messages is refused with what was being
    read (a ValueError, which the drift check records as a failed check), not an AttributeError
    that would fail the mailbox's cycle."""
    from tests.graph.test_client import SETTINGS as GRAPH  # noqa: PLC0415 - stand-ins
    from tests.graph.test_client import FixedToken  # noqa: PLC0415

    client = GraphClient(
        GRAPH,
        tokens=FixedToken(),
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"value": value})),
    )
    with pytest.raises(ValueError, match="not a list of messages"):
        GraphReader(client, "a@x.example").classes("folder-1")
