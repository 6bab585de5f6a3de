"""Temporary (helper D): the scale-out run fed through Graph, run once by hand."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mfr.settings import BusSettings
from simulator import Simulator
from tests.convergence.run import Convergence
from tests.convergence.test_convergence import SCALE_OUT_PLAN, check, tls_sim  # noqa: F401


@pytest.mark.kafka
@pytest.mark.timeout(900)
def test_graph_scale_out(tls_sim: Simulator, kafka_bootstrap: str, tmp_path: Path,  # noqa: F811
                         capsys: pytest.CaptureFixture[str]) -> None:
    """Graph scale-out."""
    bus = BusSettings(kafka_bootstrap_servers=kafka_bootstrap, partitions=6,
                      session_timeout_s=6.0, topic_prefix=f"gs{uuid.uuid4().hex[:8]}")
    report = Convergence(SCALE_OUT_PLAN, tls_sim, bus, tmp_path, api="graph").run()
    with capsys.disabled():
        check(report, tmp_path)
