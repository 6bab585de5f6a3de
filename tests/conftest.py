"""Fixtures shared by every test: a real Kafka broker for the session (plaintext, and SASL_SSL with
a SCRAM user on a second listener), and the CI guard that fails the run when a test needing Kafka
did not run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kafka.broker import KafkaBroker, SecureListener
from tests.simulator.graph.csdl import CHECKED as GRAPH_BODIES_CHECKED

_kafka_outcomes: dict[str, int] = {"passed": 0, "skipped": 0, "failed": 0}
_contract_passed: dict[str, int] = {"embedded": 0, "kafka": 0, "kafka-sasl-ssl": 0}


@pytest.fixture(scope="session")
def session_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The run's own broker, with a SASL_SSL listener beside the plaintext one."""
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), secure=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap address of a real Kafka broker: ``MFR_TEST_KAFKA``, or one started for the run."""
    external = os.environ.get("MFR_TEST_KAFKA")
    if external:
        return external
    broker: KafkaBroker = request.getfixturevalue("session_broker")
    return broker.bootstrap


@pytest.fixture(scope="session")
def kafka_sasl_ssl(session_broker: KafkaBroker) -> SecureListener:
    """The SASL_SSL listener of the run's broker (started here even with ``MFR_TEST_KAFKA``,
    whose broker's credentials the tests cannot know)."""
    assert session_broker.secure is not None
    return session_broker.secure


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A Kafka broker of the test's own, which it may stop and restart."""
    broker = KafkaBroker(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# With pytest-xdist (``-n 2 --dist loadgroup``, as ./scripts/dev test runs), the whole-pipeline
# runs share one worker, one after the other: each keeps both cores busy on its own, and two at
# once would only stretch both past their deadlines (a Kafka broker restart under that load
# outlasted the services' patience). The other worker takes everything else. They come first, so
# the other worker's queue is what balances the two. Other groups keep a module's tests on one
# worker where a module-scoped fixture is costly (the seeded archive of test_ui_find).
# xdist's own groups (xdist_group markers) do nothing under pytest 9.2: xdist 3.8 tags a group
# onto ``item._nodeid``, which pytest no longer reads; so the grouping is a scheduler of our own.
_GROUPS = {"tests/convergence/": "whole-pipeline", "tests/examples/": "whole-pipeline",
           "tests/archive/test_ui_find.py": "archive-find"}
_SERIAL_HEAVY = ("tests/convergence/", "tests/examples/")


def _group(nodeid: str) -> str:
    return next((group for prefix, group in _GROUPS.items() if nodeid.startswith(prefix)), nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The whole-pipeline runs first (a stable sort: the rest keeps its order)."""
    items.sort(key=lambda item: not item.nodeid.startswith(_SERIAL_HEAVY))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist loadgroup``: a work unit per group (``_GROUPS``), else per test."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]  # noqa: PLC0415

    class Grouped(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return Grouped(config, log)


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
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller prints the summary
        workeroutput["graph_bodies_checked"] = dict(GRAPH_BODIES_CHECKED)
    if os.environ.get("MFR_REQUIRE_KAFKA") != "1" or session.config.option.collectonly:
        return
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller sees every worker's reports and decides
    if _kafka_outcomes["skipped"] or not _kafka_outcomes["passed"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Add a finished pytest-xdist worker's Graph body counts to the controller's."""
    checked = getattr(node, "workeroutput", {}).get("graph_bodies_checked", {})
    for kind, n in checked.items():
        GRAPH_BODIES_CHECKED[kind] += n


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many Graph bodies were checked against the CSDL, and how many tests ran against
    a real Kafka broker."""
    if GRAPH_BODIES_CHECKED:
        terminalreporter.write_line(
            "Graph JSON bodies checked against the v1.0 CSDL: "
            + ", ".join(f"{n} {kind}" for kind, n in sorted(GRAPH_BODIES_CHECKED.items()))
        )
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
