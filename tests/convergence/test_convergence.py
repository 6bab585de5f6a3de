"""The convergence test: under random user activity and injected faults, the archive ends equal
to Exchange's ground truth, and a replay of the topics equals the live archive.

A longer soak of the same run: ``./scripts/dev soak`` (see ``tests/convergence/soak.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfr.settings import BusSettings
from simulator import Simulator, SimulatorSection
from tests.convergence.run import Convergence, Plan, Report
from tests.convergence.services import GRAPH_SECRET, SERVICE_PASSWORD
from tests.kafka.broker import KafkaBroker

CI_PLAN = Plan(seed=7, mailboxes=6, messages=25, actions=300, rate=8.0, fault_rounds=1,
               drain_timeout_s=150.0)
# Three extractors and two publishers, the third and second joining during the activity, then
# members killed and stopped and started again: partitions move between them many times.
SCALE_OUT_PLAN = Plan(seed=5, mailboxes=6, messages=25, actions=160, rate=8.0, fault_rounds=1,
                      fault_every_s=3.0, drain_timeout_s=150.0, extractors=3, publishers=2)


def simulator_section() -> SimulatorSection:
    """A simulator that reacts fast: quick keep-alives, push retries after a second."""
    return SimulatorSection(port=0, keepalive_s=0.5, poll_s=0.05, push_retry_initial_s=1.0)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator of the test's own."""
    with Simulator(simulator_section()) as simulator:
        yield simulator


def check(report: Report, workdir: Path) -> None:
    """The acceptance: nothing lost, duplicated or wrong; the replay equal; clean stops;
    no secret in any log."""
    print(report.text())
    assert report.verdict.equal, report.text()
    assert report.verdict.messages_compared > 0
    assert report.replay_equal, report.replay_output
    assert not report.died, report.text()
    assert all(code == 0 for code in report.exit_codes.values()), report.exit_codes
    for log in workdir.glob("*.log"):
        text = log.read_text(errors="replace")
        assert SERVICE_PASSWORD not in text, log.name
        assert GRAPH_SECRET not in text, log.name


@pytest.mark.timeout(600)
def test_embedded_bus_converges_under_faults(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the embedded bus, with listeners, extractor, publisher and archive killed and
    restarted, throttling storms and lost notifications, the archive ends equal to Exchange."""
    bus = BusSettings(embedded_path=tmp_path / "bus.sqlite3", session_timeout_s=2.0,
                      topic_prefix=f"cv{uuid.uuid4().hex[:8]}")
    report = Convergence(CI_PLAN, sim, bus, tmp_path).run()
    with capsys.disabled():
        check(report, tmp_path)


@pytest.mark.kafka
@pytest.mark.timeout(600)
def test_kafka_converges_under_faults(
    sim: Simulator, own_kafka: KafkaBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On real Kafka, with the broker restarted too, the archive ends equal to Exchange."""
    bus = BusSettings(kafka_bootstrap_servers=own_kafka.bootstrap, partitions=3,
                      session_timeout_s=6.0, topic_prefix=f"cv{uuid.uuid4().hex[:8]}")
    report = Convergence(CI_PLAN, sim, bus, tmp_path, own_kafka).run()
    with capsys.disabled():
        check(report, tmp_path)


@pytest.mark.kafka
@pytest.mark.timeout(600)
def test_kafka_scale_out_converges_while_members_come_and_go(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Extractors and publishers sharing their groups' 6 partitions, joining, killed and
    stopped while the user acts, hand mailboxes over without losing, duplicating or corrupting
    anything: the archive ends equal to Exchange."""
    bus = BusSettings(kafka_bootstrap_servers=kafka_bootstrap, partitions=6,
                      session_timeout_s=6.0, topic_prefix=f"cs{uuid.uuid4().hex[:8]}")
    report = Convergence(SCALE_OUT_PLAN, sim, bus, tmp_path).run()
    with capsys.disabled():
        check(report, tmp_path)


@pytest.fixture
def tls_sim(tmp_path: Path) -> Iterator[Simulator]:
    """A simulator of the test's own over TLS: msal, the Graph path's token client, accepts
    only https authorities."""
    section = simulator_section().model_copy(update={"tls": True, "tls_dir": tmp_path / "tls"})
    with Simulator(section) as simulator:
        yield simulator


@pytest.mark.kafka
@pytest.mark.timeout(600)
def test_graph_on_kafka_converges_under_faults(
    tls_sim: Simulator, own_kafka: KafkaBroker, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Fed through Graph on real Kafka, with the broker restarted too."""
    bus = BusSettings(kafka_bootstrap_servers=own_kafka.bootstrap, partitions=3,
                      session_timeout_s=6.0, topic_prefix=f"cg{uuid.uuid4().hex[:8]}")
    report = Convergence(CI_PLAN, tls_sim, bus, tmp_path, own_kafka, api="graph").run()
    with capsys.disabled():
        check(report, tmp_path)
