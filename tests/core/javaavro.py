"""Apache Avro for Java, the reference implementation, as the judge of our schemas and records.

Our own code (and the ``avro`` and ``fastavro`` packages) could share a misreading of the
specification; Java's ``SchemaCompatibility`` and ``BinaryMessageDecoder`` are what most Kafka
consumers run, so the evolution check asks them. Nothing is installed by hand: Maven fetches Avro's
jars from Maven Central (``avro_java/pom.xml``, cached next to the Kafka broker's, see
``tests/kafka/broker.py``) and ``javac`` compiles ``avro_java/AvroCheck.java`` once per test run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.kafka.broker import cache_dir as kafka_cache_dir

HERE = Path(__file__).with_name("avro_java")
POM = HERE / "pom.xml"
SOURCE = HERE / "AvroCheck.java"
AVRO_JAVA_VERSION = "1.12.1"
TIMEOUT_S = 120


class AvroJavaError(RuntimeError):
    """Java's Avro could not be fetched, compiled or run."""


@dataclass(frozen=True)
class Verdict:
    """Java's ``SchemaCompatibility`` on one reader/writer pair."""

    label: str
    compatible: bool
    incompatibilities: list[dict[str, str]]

    def describe(self) -> str:
        """The incompatibilities, one per line, as Java words them."""
        return "\n".join(
            f"  {p['type']} at {p['location']}: {p['message']}" for p in self.incompatibilities
        )


def cache_dir() -> Path:
    """Where Avro's jars are kept between runs (beside the Kafka broker's)."""
    return kafka_cache_dir().parent / f"avro-java-{AVRO_JAVA_VERSION}"


def ensure_jars() -> Path:
    """The directory of Avro's classpath, fetched with Maven if not cached yet."""
    libs, done = cache_dir() / "libs", cache_dir() / "complete"
    if done.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise AvroJavaError("Maven (mvn) is not installed; it fetches Avro for Java")
    shutil.rmtree(libs, ignore_errors=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-Davro.version={AVRO_JAVA_VERSION}",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        raise AvroJavaError(
            f"mvn could not fetch Avro {AVRO_JAVA_VERSION}:\n{result.stdout[-3000:]}"
        )
    done.write_text(AVRO_JAVA_VERSION)
    return libs


class AvroJava:
    """``AvroCheck`` compiled into ``workdir``; each call is one JVM run over a batch."""

    def __init__(self, workdir: Path) -> None:
        javac, java = shutil.which("javac"), shutil.which("java")
        if javac is None or java is None:
            raise AvroJavaError("a JDK (javac and java, 17+) is needed to compile AvroCheck.java")
        libs = ensure_jars()
        classes = workdir / "classes"
        classes.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [javac, "-nowarn", "-d", str(classes), "-cp", f"{libs}/*", str(SOURCE)],
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_S,
        )
        if result.returncode != 0:
            raise AvroJavaError(f"javac failed:\n{result.stdout}{result.stderr}")
        self._command = [java, "-XX:+UseSerialGC", "-cp", f"{libs}/*:{classes}", "AvroCheck"]

    def compat(self, pairs: Iterable[tuple[str, Path, Path]]) -> dict[str, Verdict]:
        """``SchemaCompatibility.checkReaderWriterCompatibility`` for (label, reader, writer)."""
        lines = "".join(f"{label}\t{reader}\t{writer}\n" for label, reader, writer in pairs)
        verdicts = [Verdict(**row) for row in self._run(["compat"], lines)]
        return {verdict.label: verdict for verdict in verdicts}

    def decode(self, jobs: Sequence[tuple[Path, Sequence[Path], bytes]]) -> list[Any]:
        """Each (reader, writers, single-object record) decoded by ``BinaryMessageDecoder`` into
        the reader, knowing the writers: a datum as plain JSON values, or ``{"error": ...}``."""
        lines = "".join(
            "\t".join([str(reader), record.hex(), *map(str, writers)]) + "\n"
            for reader, writers, record in jobs
        )
        return [row.get("datum", row) for row in self._run(["decode"], lines)]

    def _run(self, args: list[str], stdin: str) -> list[dict[str, Any]]:
        result = subprocess.run(
            [*self._command, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_S,
        )
        if result.returncode != 0:
            raise AvroJavaError(f"AvroCheck {args[0]} failed:\n{result.stderr[-3000:]}")
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
