"""A 429 storm slows a Graph sync down; it never loses a change, and no request of the mailbox
goes out before a Retry-After it was given has passed (throttling.md: "Graph continues to log
resource usage while a client is being throttled"), batched requests included."""

from __future__ import annotations

from pathlib import Path

from mfr.graph import GraphClient
from mfr.retry import RetryPolicy
from simulator import Simulator
from tests.extractor.graph.truth import graph_truth, immutable
from tests.extractor.harness import Extraction
from tests.extractor.truth import problems
from tests.graph.simulated import graph_settings

RETRY_AFTER_S = 1


def test_a_429_storm_is_ridden_out_honouring_every_retry_after(
    sim: Simulator, smtp: str, tmp_path: Path
) -> None:
    items = [
        sim.control.create_item(smtp, "inbox", subject=f"m{n}", new_mail=False) for n in range(120)
    ]
    sim.control.create_item(smtp, "sentitems", subject="sent", new_mail=False)
    patient = GraphClient(graph_settings(sim), policy=RetryPolicy(attempts=25, max_wait_s=0.2))
    ex = Extraction(patient, smtp, tmp_path, page_size=50)
    ex.run()
    notified = {immutable(sim, smtp, i) for i in items[:40]}
    for item in items[:30]:
        sim.control.move_item(smtp, item, "archive")
    sim.request_log.clear()
    sim.graph.faults.throttle(fraction=0.3, retry_after_s=RETRY_AFTER_S)
    try:
        # the moves' notifications, as the listener would pass them on: read in $batches
        ex.run(messages=notified)
        ex.run(full=True)
    finally:
        sim.graph.faults.clear()
    # The log stamps each request when answered (``at``), after ``duration_s``.
    log = sim.request_log.entries(mailbox=smtp)
    batches = sim.request_log.entries(operation="graph.batch")
    throttled = [e for e in log if e.status == 429]
    assert len(throttled) >= 3, "the storm did not happen"
    assert any(e.operation == "graph.message.get" for e in throttled), "no batched one throttled"
    for storm in throttled:
        # A batched request's 429 reaches the client with the whole batch's answer.
        learned = max(
            [
                storm.at,
                *(
                    b.at
                    for b in batches
                    if b.at - b.duration_s <= storm.at - storm.duration_s and storm.at <= b.at
                ),
            ]
        )
        early = [e for e in log if learned < e.at - e.duration_s < learned + RETRY_AFTER_S - 0.05]
        assert early == [], f"sent {len(early)} requests during a Retry-After"
    assert problems(graph_truth(sim, smtp), ex.messages(), ex.folders()) == []
    ex.close()
    patient.close()
