"""Apache Avro for Java on our contract: ``schemas/`` is fully compatible, both ways, with every
released version (``SchemaCompatibility``), the check refuses incompatible changes, and Java's
``BinaryMessageDecoder`` reads current records and records of every released version exactly as
our codec does — and with an old reader schema, current records too.

The check is ``tests/core/evolution.py``; ``python -m tests.core.evolution`` prints its verdict.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mfr.codec import Codec
from schemas import SCHEMA_DIR
from tests.core.evolution import (
    evolution_problems,
    judge,
    release_problems,
    released_versions,
)
from tests.core.javaavro import AvroJava
from tests.core.samples import GRAPH_EVENT, SAMPLES, as_written_by, encode_with, plain

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def java(tmp_path_factory: pytest.TempPathFactory) -> AvroJava:
    return AvroJava(tmp_path_factory.mktemp("avro-java"))


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in schema["fields"] if f["name"] == name)
    return found


def add_required_field(schema: dict[str, Any]) -> None:
    schema["fields"].append({"name": "thread_id", "type": "string", "doc": "required, no default"})


def change_a_type(schema: dict[str, Any]) -> None:
    field(schema, "display_name")["type"] = "long"


def remove_a_required_field(schema: dict[str, Any]) -> None:
    schema["fields"].remove(field(schema, "version"))


def rename_an_optional_field(schema: dict[str, Any]) -> None:
    field(schema, "subject")["name"] = "title"


def add_a_symbol(schema: dict[str, Any]) -> None:
    field(schema, "scope")["type"]["symbols"].append("Archive")


def remove_a_symbol(schema: dict[str, Any]) -> None:
    field(schema, "source")["type"]["symbols"].remove("Pull")


def add_an_optional_field(schema: dict[str, Any]) -> None:
    schema["fields"].append(
        {
            "name": "thread_id",
            "type": ["null", "string"],
            "default": None,
            "doc": "optional, with a default",
        }
    )


def add_a_symbol_to_an_enum_with_a_default(schema: dict[str, Any]) -> None:
    field(schema, "source")["type"]["symbols"].append("Replay")


# (name, schema edited, the edit, what the check must say)
INCOMPATIBLE: dict[str, tuple[str, Edit, str]] = {
    "a new field without a default": (
        "MessageState",
        add_required_field,
        r"MessageState: current reader, v1 writer: INCOMPATIBLE.*\n"
        r"  READER_FIELD_MISSING_DEFAULT_VALUE at /fields/\d+: thread_id",
    ),
    "a field's type changed": (
        "FolderState",
        change_a_type,
        r"FolderState: v1 reader, current writer: INCOMPATIBLE.*\n"
        r"  TYPE_MISMATCH at /fields/\d+/type: reader type: STRING not compatible with writer "
        r"type: LONG",
    ),
    "a required field removed": (
        "MessageState",
        remove_a_required_field,
        r"MessageState: v1 reader, current writer: INCOMPATIBLE.*\n"
        r"  READER_FIELD_MISSING_DEFAULT_VALUE at /fields/\d+: version",
    ),
    "an optional field renamed": (
        "MessageState",
        rename_an_optional_field,
        r"MessageState: field mfr\.replication\.MessageState\.subject of v1 is gone",
    ),
    "an enum symbol removed": (
        "ChangeEvent",
        remove_a_symbol,
        r"ChangeEvent: symbol mfr\.replication\.ChangeSource\.Pull of v1 is gone",
    ),
    "a symbol added to an enum v1 had without default": (
        "Checkpoint",
        add_a_symbol,
        r"Checkpoint: v1 reader, current writer: INCOMPATIBLE.*\n"
        r"  MISSING_ENUM_SYMBOLS at /fields/1/type/symbols: \[Archive\]",
    ),
}

COMPATIBLE: dict[str, tuple[str, Edit]] = {
    "a new optional field with a default": ("FolderState", add_an_optional_field),
    "a symbol added to an enum that always had a default": (
        "ChangeEvent",
        add_a_symbol_to_an_enum_with_a_default,
    ),
}


def edited_copy(root: Path, label: str, name: str, edit: Edit) -> Path:
    copy = root / label.replace(" ", "-").replace("'", "")
    shutil.copytree(SCHEMA_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    schema = json.loads((copy / f"{name}.avsc").read_text())
    edit(schema)
    (copy / f"{name}.avsc").write_text(json.dumps(schema, indent=2))
    return copy


def test_schemas_are_fully_compatible_with_every_release_both_ways(java: AvroJava) -> None:
    """The real check on the real schemas: nothing to report."""
    assert evolution_problems(java) == []


@pytest.fixture(scope="module")
def verdicts(java: AvroJava, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The check on a copy of ``schemas/`` per change, all judged in one JVM run."""
    root = tmp_path_factory.mktemp("evolved")
    changes = {label: (name, edit) for label, (name, edit, _) in INCOMPATIBLE.items()}
    changes.update(COMPATIBLE)
    copies = {
        label: edited_copy(root, label, name, edit) for label, (name, edit) in changes.items()
    }
    judged = judge(java, list(copies.values()))
    return {label: judged[copy] for label, copy in copies.items()}


@pytest.mark.parametrize("label", INCOMPATIBLE)
def test_the_check_refuses_an_incompatible_change(
    verdicts: dict[str, list[str]], label: str
) -> None:
    """Each change the policy forbids makes the check fail, saying which direction breaks."""
    problems = "\n".join(verdicts[label])
    assert problems, f"the check let {label!r} through"
    assert re.search(INCOMPATIBLE[label][2], problems), problems


@pytest.mark.parametrize("label", COMPATIBLE)
def test_the_check_lets_an_additive_change_through_once_released(
    verdicts: dict[str, list[str]], label: str, tmp_path: Path
) -> None:
    """A change the policy allows passes the compatibility check, and the release check asks
    for it to be released as the next version."""
    assert verdicts[label] == []
    name, edit = COMPATIBLE[label]
    [problem] = release_problems(edited_copy(tmp_path, label, name, edit))
    following = len(released_versions(SCHEMA_DIR)[name]) + 1
    assert problem.endswith(f"release it: copy it to schemas/released/{name}/v{following}.avsc")


def test_java_decodes_current_records_and_those_of_every_release_as_our_codec_does(
    java: AvroJava, codec: Codec
) -> None:
    """BinaryMessageDecoder with the current reader and every released version as writers
    decodes each record to exactly what our codec decodes."""
    jobs: list[tuple[Path, list[Path], bytes]] = []
    for name, versions in released_versions(SCHEMA_DIR).items():
        writers = [path for _, path in versions]
        records = [codec.encode(name, SAMPLES[name])]
        records += [encode_with(path, as_written_by(path, SAMPLES[name])) for path in writers]
        jobs += [(SCHEMA_DIR / f"{name}.avsc", writers, record) for record in records]
    theirs = java.decode(jobs)
    ours = [plain(codec.decode(record).datum) for _, _, record in jobs]
    assert len(ours) == 2 * len(SAMPLES) + 5  # five schemas have two releases, one has one
    for mine, java_s in zip(ours, theirs, strict=True):
        assert java_s == mine


def test_java_with_a_version_1_reader_reads_current_records(java: AvroJava, codec: Codec) -> None:
    """A consumer still on version 1 reads current records, Graph's included: new fields are
    skipped and a ChangeSource it does not know reads as its default, Sync."""
    jobs: list[tuple[Path, list[Path], bytes]] = []
    expected: list[dict[str, Any]] = []
    for name, [(_, v1), *_] in released_versions(SCHEMA_DIR).items():
        samples = [SAMPLES[name], GRAPH_EVENT] if name == "ChangeEvent" else [SAMPLES[name]]
        for sample in samples:
            jobs.append((v1, [SCHEMA_DIR / f"{name}.avsc"], codec.encode(name, sample)))
            expected.append(plain(as_written_by(v1, sample)))
            if sample is GRAPH_EVENT:
                expected[-1]["source"] = "Sync"
    theirs = java.decode(jobs)
    for wanted, java_s in zip(expected, theirs, strict=True):
        assert java_s == wanted
