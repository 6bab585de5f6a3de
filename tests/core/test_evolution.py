"""Schema evolution in the codec: records written with any released version of a schema decode
into the current one, the releases are in order, and every failure is still one CodecError.
Java's verdict on the same schemas and records is in ``test_compatibility.py``."""

from __future__ import annotations

import contextlib
import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mfr.codec import HEADER_SIZE, Codec
from mfr.errors import CodecError, CodecProblem
from schemas import SCHEMA_DIR
from tests.core.evolution import (
    named_types,
    release_problems,
    released_versions,
    structural_problems,
)
from tests.core.samples import NOW, SAMPLES, as_written_by, encode_with

RELEASES = [
    (name, version, path)
    for name, versions in released_versions(SCHEMA_DIR).items()
    for version, path in versions
]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def test_every_schema_is_released_and_no_release_was_dropped() -> None:
    """What the codec writes is the newest released version of each schema, and every released
    schema still exists; version 1 of each is the contract before issue 12."""
    assert release_problems(SCHEMA_DIR) == []
    assert {name for name, version, _ in RELEASES if version == 1} == set(SAMPLES)


def test_a_removed_schema_is_reported(tmp_path: Path) -> None:
    """A released schema whose file is gone would leave its records unreadable."""
    copy = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "DeadLetter.avsc").unlink()
    assert release_problems(copy) == [
        "DeadLetter: released, but schemas/DeadLetter.avsc is gone; never remove a schema"
    ]


def test_no_field_or_symbol_of_a_release_is_gone_and_every_enum_has_a_default() -> None:
    """The rules Avro's checker lets through: nothing released disappears, enums can grow."""
    assert structural_problems(SCHEMA_DIR) == []


def test_every_enum_says_what_an_unknown_symbol_reads_as() -> None:
    """An enum's doc names its default as what a reader makes of a symbol it does not know."""
    for path in sorted(SCHEMA_DIR.glob("*.avsc")):
        for fullname, named in named_types(json.loads(path.read_text())).items():
            if named["type"] == "enum":
                assert f"does not know reads {named['default']}" in named["doc"], fullname


def test_the_codec_knows_every_released_version(codec: Codec) -> None:
    """Each schema's released versions are loaded in order; the newest is what it writes."""
    for name in SAMPLES:
        versions = codec.released(name)
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))
        assert versions[-1].entry.fingerprint == codec.entry(name).fingerprint


@pytest.mark.parametrize(
    ("name", "version", "path"), RELEASES, ids=[f"{n}-v{v}" for n, v, _ in RELEASES]
)
def test_a_record_of_each_released_version_decodes_into_the_current_schema(
    codec: Codec, name: str, version: int, path: Path
) -> None:
    """A record written (without our codec) with a released version decodes to the current
    schema: what that version carried, and the current defaults for what it did not have."""
    written = as_written_by(path, SAMPLES[name])
    decoded = codec.decode(encode_with(path, written), expected=name)
    assert decoded.name == f"mfr.replication.{name}"
    assert decoded.datum == codec.decode(codec.encode(name, written)).datum
    current_fields = [f.name for f in codec.entry(name).schema.fields]
    assert sorted(decoded.datum) == sorted(current_fields)
    if "exchange_api" in current_fields and version == 1:
        assert decoded.datum["exchange_api"] is None  # written before the field existed


def test_old_and_new_records_on_one_topic_read_alike(codec: Codec) -> None:
    """Replay of a topic holding v1 and current MessageStates: one shape for every record."""
    v1 = SCHEMA_DIR / "released" / "MessageState" / "v1.avsc"
    old = encode_with(v1, as_written_by(v1, SAMPLES["MessageState"]))
    new = codec.encode("MessageState", {**SAMPLES["MessageState"], "version": 8})
    assert old[2:HEADER_SIZE] != new[2:HEADER_SIZE]
    first, second = codec.decode(old).datum, codec.decode(new).datum
    assert first.keys() == second.keys()
    assert (first["version"], first["exchange_api"]) == (7, None)
    assert (second["version"], second["exchange_api"]) == (8, "Ews")


def evolved_copy(tmp_path: Path, edit_v1: Any) -> Path:
    """A copy of ``schemas/`` whose released ChangeEvent v1 was edited by ``edit_v1(schema)``."""
    copy = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    v1 = copy / "released" / "ChangeEvent" / "v1.avsc"
    schema = json.loads(v1.read_text())
    edit_v1(schema)
    v1.write_text(json.dumps(schema))
    return copy


def change_source(schema: dict[str, Any]) -> dict[str, Any]:
    enum: dict[str, Any] = next(f for f in schema["fields"] if f["name"] == "source")["type"]
    return enum


def test_a_symbol_the_current_enum_lacks_reads_as_its_default(tmp_path: Path) -> None:
    """An older version's enum symbol the current schema no longer has reads as the current
    enum's default (Avro's resolution rule; the avro package alone would raise)."""
    copy = evolved_copy(tmp_path, lambda s: change_source(s)["symbols"].append("Carrier"))
    v1 = copy / "released" / "ChangeEvent" / "v1.avsc"
    datum = {**as_written_by(v1, SAMPLES["ChangeEvent"]), "source": "Carrier"}
    decoded = Codec(copy).decode(encode_with(v1, datum))
    assert decoded.datum["source"] == "Sync"
    assert decoded.datum["event_type"] == "Moved"


def test_a_symbol_an_enum_without_default_lacks_is_a_codec_error(tmp_path: Path) -> None:
    """Without a default to fall back on, the record cannot be read: one CodecError naming the
    version it was written with."""
    copy = evolved_copy(tmp_path, lambda s: change_source(s)["symbols"].append("Carrier"))
    current = json.loads((copy / "ChangeEvent.avsc").read_text())
    del change_source(current)["default"]
    (copy / "ChangeEvent.avsc").write_text(json.dumps(current))
    v1 = copy / "released" / "ChangeEvent" / "v1.avsc"
    data = encode_with(v1, {**as_written_by(v1, SAMPLES["ChangeEvent"]), "source": "Carrier"})
    with pytest.raises(
        CodecError,
        match=r"written with released version 1 cannot be read into "
        r"the current schema: Carrier is not a",
    ) as caught:
        Codec(copy).decode(data)
    assert caught.value.problem is CodecProblem.CORRUPT


def test_an_old_record_cut_short_or_garbled_is_still_one_codec_error(codec: Codec) -> None:
    """Truncation of an old-version record is reported as truncated; noise after an old header
    never escapes as a foreign exception."""
    v1 = SCHEMA_DIR / "released" / "MessageState" / "v1.avsc"
    data = encode_with(v1, as_written_by(v1, SAMPLES["MessageState"]))
    for cut in range(HEADER_SIZE, len(data), 5):
        with pytest.raises(CodecError, match=r"truncated: mfr\.replication\.MessageState"):
            codec.decode(data[:cut])
    for seed in range(200):
        noisy = data[:HEADER_SIZE] + bytes((seed * 37 + i * 11) % 256 for i in range(seed % 50))
        with contextlib.suppress(CodecError):
            codec.decode(noisy)


def test_an_enum_index_past_the_writers_symbols_is_corrupt(codec: Codec) -> None:
    """A symbol index the writer's enum does not have cannot have been written: corrupt, not a
    silent default."""
    data = bytearray(codec.encode("Checkpoint", {**SAMPLES["Checkpoint"], "mailbox": ""}))
    assert data[HEADER_SIZE] == 0  # the empty mailbox string; next comes the scope's index
    data[HEADER_SIZE + 1] = 0x10  # zigzag 8: the ninth symbol of a two-symbol enum
    with pytest.raises(CodecError, match=r"corrupt body: .*enum index 8 is outside"):
        codec.decode(bytes(data))


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("ChangeEvent/1.avsc", r"not named v<N>\.avsc"),
        ("ChangeEvent/v0.avsc", r"not named v<N>\.avsc"),
        ("Checkpoint/v9.avsc", r"holds mfr\.replication\.ChangeEvent, not Checkpoint"),
    ],
)
def test_a_misfiled_release_stops_the_codec(tmp_path: Path, where: str, problem: str) -> None:
    """A release under the wrong name would read records into the wrong schema: refused at
    start, as one CodecError."""
    copy = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copy(SCHEMA_DIR / "ChangeEvent.avsc", copy / "released" / where)
    with pytest.raises(CodecError, match=problem):
        Codec(copy)


def test_a_directory_without_releases_still_reads_its_current_schemas(tmp_path: Path) -> None:
    """The codec works from the current schemas alone (releases only add readable versions)."""
    for path in SCHEMA_DIR.glob("*.avsc"):
        shutil.copy(path, tmp_path)
    codec = Codec(tmp_path)
    datum = codec.decode(codec.encode("ChangeEvent", SAMPLES["ChangeEvent"])).datum
    assert datum["received_time"] == NOW
    assert codec.released("ChangeEvent") == []


def test_the_package_ships_every_release() -> None:
    """The wheel (and so the Docker image) carries the released versions, or an installed codec
    could not read old records: pyproject's package data covers every released file."""
    pyproject = tomllib.loads((SCHEMA_DIR.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["schemas"]
    shipped = {path for pattern in patterns for path in SCHEMA_DIR.glob(pattern)}
    assert {path for _, _, path in RELEASES} <= shipped
