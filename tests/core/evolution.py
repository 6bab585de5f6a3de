"""The schema-evolution check: ``schemas/`` against every released version in ``schemas/released/``.

The contract promises *full transitive* compatibility (README, "Schema evolution"): the current
schema reads records of every released version (backward: replay of compacted topics after an
upgrade), and every released version reads records of the current one (forward: a consumer that
has not upgraded yet). Apache Avro's Java ``SchemaCompatibility`` judges each pair, both ways; the
Confluent Schema Registry names this level FULL_TRANSITIVE.

Avro's rules allow two changes that lose data for a consumer without any error, so the check adds
them: a field of a released version may not disappear (removing or renaming an optional field is
"compatible", but new readers silently get its default), and an enum symbol may not disappear
(old records would silently read as the default). Every enum must have a default, so a symbol can
be added later; and what is written must be released: the current schema file is the newest file
in ``released/<Name>/``, else records would go out under a fingerprint no released reader knows.

``python -m tests.core.evolution [SCHEMA_DIR]`` prints the check's verdict and exits 1 on a problem.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from schemas import SCHEMA_DIR
from tests.core.javaavro import AvroJava

RELEASED = "released"


def released_versions(schema_dir: Path) -> dict[str, list[tuple[int, Path]]]:
    """``released/<Name>/v<N>.avsc`` by short name, oldest first."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for path in (schema_dir / RELEASED).glob("*/v*.avsc"):
        found.setdefault(path.parent.name, []).append((int(path.stem[1:]), path))
    return {name: sorted(versions) for name, versions in sorted(found.items())}


def current_schemas(schema_dir: Path) -> dict[str, Path]:
    """The schemas records are written with, by short name."""
    return {path.stem: path for path in sorted(schema_dir.glob("*.avsc"))}


def release_problems(schema_dir: Path) -> list[str]:
    """What is written but not released, and what was released but is gone."""
    problems = []
    released = released_versions(schema_dir)
    for name, path in current_schemas(schema_dir).items():
        versions = released.get(name, [])
        newest = versions[-1] if versions else (0, None)
        if newest[1] is None or newest[1].read_text() != path.read_text():
            problems.append(
                f"{name}: schemas/{name}.avsc differs from its newest release "
                f"(v{newest[0]}); release it: copy it to "
                f"schemas/{RELEASED}/{name}/v{newest[0] + 1}.avsc"
            )
    for name in released.keys() - current_schemas(schema_dir).keys():
        problems.append(f"{name}: released, but schemas/{name}.avsc is gone; never remove a schema")
    return problems


def structural_problems(schema_dir: Path) -> list[str]:
    """The rules Avro's checker does not enforce: no field or enum symbol of a released version
    disappears, and every enum has a default."""
    problems = []
    current = current_schemas(schema_dir)
    for name, path in current.items():
        now = named_types(json.loads(path.read_text()))
        for fullname, named in now.items():
            if named.get("type") == "enum" and "default" not in named:
                problems.append(f"{name}: enum {fullname} has no default; add one")
        for version, old_path in released_versions(schema_dir).get(name, []):
            for fullname, old in named_types(json.loads(old_path.read_text())).items():
                new = now.get(fullname)
                if new is None:
                    problems.append(f"{name}: type {fullname} of v{version} is gone")
                    continue
                kind, members = ("field", "fields") if "fields" in old else ("symbol", "symbols")
                for member in _members(old, members) - _members(new, members):
                    problems.append(f"{name}: {kind} {fullname}.{member} of v{version} is gone")
    return problems


def compatibility_pairs(schema_dir: Path) -> list[tuple[str, Path, Path]]:
    """(label, reader, writer): the current schema against every released version, both ways."""
    pairs = []
    released = released_versions(schema_dir)
    for name, path in current_schemas(schema_dir).items():
        for version, old in released.get(name, []):
            pairs.append((f"{name}: current reader, v{version} writer", path, old))
            pairs.append((f"{name}: v{version} reader, current writer", old, path))
    return pairs


def compatibility_problems(java: AvroJava, schema_dir: Path) -> list[str]:
    """Java's verdict on every pair, and the structural rules."""
    return judge(java, [schema_dir])[schema_dir]


def judge(java: AvroJava, schema_dirs: Sequence[Path]) -> dict[Path, list[str]]:
    """:func:`compatibility_problems` of several schema directories, in one JVM run."""
    pairs = [
        (f"{index}|{label}", reader, writer)
        for index, schema_dir in enumerate(schema_dirs)
        for label, reader, writer in compatibility_pairs(schema_dir)
    ]
    problems = {schema_dir: structural_problems(schema_dir) for schema_dir in schema_dirs}
    for key, verdict in java.compat(pairs).items():
        index, _, label = key.partition("|")
        if not verdict.compatible:
            problems[schema_dirs[int(index)]].append(
                f"{label}: INCOMPATIBLE (Avro SchemaCompatibility)\n{verdict.describe()}"
            )
    return problems


def evolution_problems(java: AvroJava, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Everything the check finds wrong; empty when ``schemas/`` may ship."""
    return release_problems(schema_dir) + compatibility_problems(java, schema_dir)


def named_types(schema: Any) -> dict[str, dict[str, Any]]:
    """Every record and enum of a schema by full name (namespace inherited as Avro says)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any, namespace: str | None) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, namespace)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind in ("record", "enum", "error"):
            name = node["name"]
            namespace = node.get("namespace", namespace)
            fullname = name if "." in name or not namespace else f"{namespace}.{name}"
            found[fullname] = node
            namespace = fullname.rpartition(".")[0] or None
            for field in node.get("fields", []):
                walk(field["type"], namespace)
            return
        walk(kind, namespace)
        walk(node.get("items"), namespace)
        walk(node.get("values"), namespace)

    walk(schema, None)
    return found


def _members(named: dict[str, Any], key: str) -> set[str]:
    return {m["name"] if isinstance(m, dict) else m for m in named.get(key, [])}


def _report(schema_dir: Path) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="mfr-evolution-") as workdir:
        java = AvroJava(Path(workdir))
        verdicts = java.compat(compatibility_pairs(schema_dir))
        for label, verdict in verdicts.items():
            yield f"{'compatible  ' if verdict.compatible else 'INCOMPATIBLE'} {label}"
            if not verdict.compatible:
                yield verdict.describe()
        problems = release_problems(schema_dir) + structural_problems(schema_dir)
        yield from problems
        if problems or not all(v.compatible for v in verdicts.values()):
            raise SystemExit(1)


def main() -> None:
    """Print the check's verdict on SCHEMA_DIR (default: the project's ``schemas/``)."""
    schema_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR
    try:
        for line in _report(schema_dir):
            print(line)
    except SystemExit:
        print("schema evolution check: FAILED")
        raise
    print("schema evolution check: passed")


if __name__ == "__main__":
    main()
