"""Reads by id through ``$batch`` (20 to a request, json-batching.md) give exactly what one-by-one
GETs give, in a twentieth of the HTTP requests; a message that is gone is None either way."""

from __future__ import annotations

from extractor.graphreader import GraphReader
from mfr.graph import GraphClient
from simulator import Simulator
from tests.extractor.graph.truth import immutable


def test_batched_reads_equal_single_reads_in_fewer_round_trips(
    sim: Simulator, client: GraphClient, smtp: str
) -> None:
    ids = [sim.control.create_item(smtp, "inbox", subject=f"m{n}") for n in range(45)]
    wanted = [immutable(sim, smtp, i) for i in ids]
    sim.control.delete_item(smtp, ids[0], "HardDelete")
    batched, single = GraphReader(client, smtp, batch=True), GraphReader(client, smtp, batch=False)
    found = batched.items(wanted)
    assert found == single.items(wanted)
    assert len(found) == 44
    assert wanted[0] not in found
    assert (batched.gets.round_trips, single.gets.round_trips) == (3, 45)
    assert {s.subject for s in found.values()} == {f"m{n}" for n in range(1, 45)}
