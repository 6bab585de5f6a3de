"""Fixtures shared by every test: a real Kafka broker for the session, and the CI guard that fails
the run when a test needing Kafka did not run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka.broker import KafkaBroker

_kafka_outcomes: dict[str, int] = {"passed": 0, "skipped": 0, "failed": 0}
_contract_passed: dict[str, int] = {"embedded": 0, "kafka": 0}


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker: ``MFR_TEST_KAFKA``, or one started for the run."""
    external = os.environ.get("MFR_TEST_KAFKA")
    if external:
        yield external
        return
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A Kafka broker of the test's own, which it may stop and restart."""
    broker = KafkaBroker(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count how the tests that need Kafka fared, and the bus contract suite per backend."""
    if report.when == "call" and report.passed and "tests/contract/" in report.nodeid:
        for backend in _contract_passed:
            if report.nodeid.endswith(f"[{backend}]"):
                _contract_passed[backend] += 1
    if "kafka" not in report.keywords:
        return
    if report.skipped:
        _kafka_outcomes["skipped"] += 1
    elif report.failed:
        _kafka_outcomes["failed"] += 1
    elif report.when == "call" and report.passed:
        _kafka_outcomes["passed"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With MFR_REQUIRE_KAFKA=1 (as in CI), a skipped or absent real-Kafka test fails the run."""
    if os.environ.get("MFR_REQUIRE_KAFKA") != "1" or session.config.option.collectonly:
        return
    if _kafka_outcomes["skipped"] or not _kafka_outcomes["passed"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests ran against a real Kafka broker."""
    counts = _kafka_outcomes
    terminalreporter.write_line(
        "bus contract suite: "
        + ", ".join(f"{n} passed on {backend}" for backend, n in _contract_passed.items())
    )
    terminalreporter.write_line(
        f"real Kafka tests: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped"
    )
    if os.environ.get("MFR_REQUIRE_KAFKA") == "1" and (counts["skipped"] or not counts["passed"]):
        terminalreporter.write_line(
            "FAILED: MFR_REQUIRE_KAFKA=1 but real-Kafka tests were skipped or none ran", red=True
        )
