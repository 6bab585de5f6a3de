"""The example consumers in examples/ (Java: Avro's BinaryMessageDecoder and kafka-clients; Python:
fastavro and kafka-python) rebuild from a real broker, fed by the real pipeline, the same folder
tree with the same counts as the archive; and every record the pipeline wrote carries headers
naming its schema, fingerprint and content type."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from archive.browse.tree import folder_tree, mailbox_id
from archive.store.engine import open_engine
from mfr.bus.headers import SINGLE_OBJECT
from mfr.codec import Codec
from mfr.settings import BusSettings
from mfr.topics import Topic, topic_name
from schemas import SCHEMA_DIR
from simulator import Simulator, SimulatorSection
from tests.examples.java import java_command
from tests.kafka.broker import free_port
from tests.pipeline.test_run import MAILBOX, PASSWORD, SERVICE
from tests.pipeline.test_run import write_config as write_embedded_config

ROOT = Path(__file__).parents[2]
PYTHON_EXAMPLE = ROOT / "examples" / "python" / "folder_tree.py"
ITEMS: dict[str, str] = {}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator with one mailbox: nested folders, read and unread messages (their ids by
    subject in ``ITEMS``)."""
    with Simulator(SimulatorSection(port=0, keepalive_s=0.5, poll_s=0.05)) as simulator:
        simulator.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        simulator.control.create_mailbox(MAILBOX)
        projects = simulator.control.create_folder(MAILBOX, "inbox", "Projects")
        simulator.control.create_folder(MAILBOX, projects, "Archive 2026")
        ITEMS["Receipts"] = simulator.control.create_folder(MAILBOX, "inbox", "Receipts")
        for n in range(4):
            ITEMS[f"Inbox mail {n}"] = simulator.control.create_item(
                MAILBOX, subject=f"Inbox mail {n}", is_read=n % 2 == 0)
        for n in range(3):
            ITEMS[f"Plan {n}"] = simulator.control.create_item(
                MAILBOX, projects, subject=f"Plan {n}", is_read=False)
        yield simulator


def write_config(tmp_path: Path, sim: Simulator, bus: BusSettings, archive_port: int) -> Path:
    """The ``mfr run`` test's config file, moved to Kafka with topics and consumer groups of
    this test's own."""
    config = write_embedded_config(tmp_path, sim, archive_port)
    text = config.read_text()
    for old, new in (
        (f'embedded_path = "{tmp_path / "bus.sqlite3"}"',
         f'kafka_bootstrap_servers = "{bus.kafka_bootstrap_servers}"\n'
         f'topic_prefix = "{bus.topic_prefix}"\npartitions = 3'),
        ("session_timeout_s = 2.0", "session_timeout_s = 6.0"),
        ("[extractor]\n", f'[extractor]\ngroup = "{bus.topic_prefix}-extractor"\n'),
        ("[publisher]\n", f'[publisher]\ngroup = "{bus.topic_prefix}-publisher"\n'),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    config.write_text(text)
    return config


def archive_tree(database: Path) -> str:
    """The archive's folder tree (its browse API's model), in the examples' output format."""
    engine = open_engine(f"sqlite:///{database}")  # no migration: the archive makes its tables
    try:
        with engine.connect() as conn:
            box = mailbox_id(conn, MAILBOX)
            if box is None:
                return ""
            tree = folder_tree(conn, MAILBOX, box, None)
    except OperationalError:
        return ""  # the archive has not created its tables yet
    finally:
        engine.dispose()
    # The examples list siblings by name; the archive puts well-known folders first, which
    # is the UI's choice, not the data's, so the comparison uses the examples' order.
    keys = {node.folder_key for node in tree.folders}
    children: dict[str | None, list[Any]] = {}
    for node in tree.folders:
        parent = node.parent_folder_key if node.parent_folder_key in keys else None
        children.setdefault(parent, []).append(node)
    lines = [f"mailbox {MAILBOX}"]

    def walk(parent: str | None, depth: int) -> None:
        for node in sorted(children.get(parent, []), key=lambda n: (
                n.deleted, n.display_name.lower(), n.folder_key)):
            mark = " (deleted)" if node.deleted else ""
            lines.append(f"{'  ' * depth}{node.display_name}{mark}: "
                         f"{node.messages} messages, {node.deleted_messages} deleted, "
                         f"{node.unread} unread")
            walk(node.folder_key, depth + 1)

    walk(None, 0)
    return "\n".join(lines) + "\n"


def wait_for(database: Path, process: subprocess.Popen[str], log: Path, *wanted: str) -> str:
    """The archive's tree once every ``wanted`` line is in it (the pipeline has caught up)."""
    deadline = time.monotonic() + 90
    tree = ""
    while not all(line in tree.splitlines() for line in wanted):
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"late:\n{tree}\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
        tree = archive_tree(database) if database.exists() else ""
    return tree


def run_pipeline(tmp_path: Path, sim: Simulator, bus: BusSettings) -> str:
    """Run ``mfr run`` on Kafka through an initial sync, a delete, a withdrawal, a move and a
    read, stop it cleanly and return the archive's final tree."""
    database, log = tmp_path / "archive.sqlite3", tmp_path / "run.log"
    config = write_config(tmp_path, sim, bus, free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({"PYTHONPATH": os.pathsep.join(sys.path), "MFR_EXCHANGE__PASSWORD": PASSWORD})
    process = subprocess.Popen(
        [sys.executable, "-c", "from mfr.cli import main; main()", "run", "-c", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True,
    )
    control = sim.control
    try:
        wait_for(database, process, log, "  Projects: 3 messages, 0 deleted, 3 unread")
        items = ITEMS
        control.delete_item(MAILBOX, items["Plan 0"], "HardDelete")
        control.update_item(MAILBOX, items["Plan 1"], sensitivity="Private")
        control.move_item(MAILBOX, items["Inbox mail 0"], items["Receipts"])
        control.update_item(MAILBOX, items["Inbox mail 1"], is_read=True)
        tree = wait_for(database, process, log,
                        "  Projects: 2 messages, 1 deleted, 1 unread",
                        "  Receipts: 1 messages, 0 deleted, 0 unread",
                        "Inbox: 3 messages, 0 deleted, 1 unread")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, log.read_text()[-3000:]
    assert archive_tree(database) == tree
    return tree


def python_example() -> ModuleType:
    """examples/python/folder_tree.py, loaded as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("folder_tree", PYTHON_EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_every_record_has_headers(bus: BusSettings) -> int:
    """Every record on every topic names its schema, fingerprint and content type (read with
    the Python example's own reader, which takes the topics from the beginning to their end)."""
    codec = Codec()
    records = python_example().read_all(bus.kafka_bootstrap_servers,
                                        *(topic_name(bus, t) for t in Topic))
    for record in records:
        headers = dict(record.headers)
        assert headers["mfr.schema"].decode() == codec.decode(record.value).name, record
        assert headers["mfr.schema.fingerprint"] == record.value[2:10].hex().encode()
        assert headers["content-type"] == SINGLE_OBJECT
    assert {r.topic for r in records} >= {topic_name(bus, t) for t in
                                          (Topic.CHANGES, Topic.FOLDERS, Topic.MESSAGES,
                                           Topic.CHECKPOINTS, Topic.STATUS)}
    return len(records)


@pytest.mark.kafka
def test_example_consumers_rebuild_the_archives_folder_tree(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """After a real pipeline run on Kafka (initial sync, a hard delete, a message made Private,
    a move, a read), the Java and the Python example print exactly the archive's folder tree
    with its counts, reading the topics from the beginning; every record carries its headers."""
    bus = BusSettings(kafka_bootstrap_servers=kafka_bootstrap,
                      topic_prefix=f"ex{uuid.uuid4().hex[:8]}")
    expected = run_pipeline(tmp_path, sim, bus)
    assert assert_every_record_has_headers(bus) > 0
    arguments = [kafka_bootstrap, bus.topic_prefix, str(SCHEMA_DIR), MAILBOX]
    python = subprocess.run(
        [sys.executable, str(PYTHON_EXAMPLE), *arguments],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert python.returncode == 0, python.stderr[-3000:]
    assert python.stdout == expected
    java = subprocess.run([*java_command(), *arguments], capture_output=True, text=True,
                          timeout=120, check=False)
    assert java.returncode == 0, java.stderr[-3000:]
    assert java.stdout == expected
