"""Throttling storms slow the extractor down; they never lose a change or break the back-off."""

from __future__ import annotations

from pathlib import Path

from mfr.ews import EwsConnection, RetryPolicy
from simulator import Simulator
from tests.extractor.conftest import SERVICE
from tests.extractor.harness import Extraction
from tests.extractor.truth import problems

BACK_OFF_S = 0.3


def test_a_throttling_storm_is_ridden_out_honouring_every_back_off(
    sim: Simulator, connection: EwsConnection, smtp: str, tmp_path: Path
) -> None:
    """With 30% of requests answered ErrorServerBusy, sync still converges, and no request of
    the service account arrives before a back-off it was given has elapsed."""
    for n in range(700):
        sim.control.create_item(smtp, "inbox", subject=f"m{n}", new_mail=False)
    sim.control.create_item(smtp, "sentitems", subject="sent", new_mail=False)
    patient = EwsConnection(connection.settings, policy=RetryPolicy(attempts=25, max_wait_s=1))
    ex = Extraction(patient, smtp, tmp_path)
    sim.request_log.clear()
    sim.faults.throttle(fraction=0.3, back_off_ms=int(BACK_OFF_S * 1000))
    try:
        ex.run()
    finally:
        sim.faults.clear()
    log = [e for e in sim.request_log.entries() if e.account and e.account.lower() == SERVICE]
    busy = [e for e in log if e.result == "ErrorServerBusy"]
    assert len(busy) >= 3, "the storm did not happen"
    for storm in busy:
        answered = storm.at + storm.duration_s
        early = [e for e in log if answered < e.at < answered + BACK_OFF_S - 0.02]
        assert early == [], f"sent {len(early)} requests during a back-off"
    assert problems(sim.ground_truth(smtp), ex.messages(), ex.folders()) == []
    ex.close()
