"""The Java example consumer, built with Maven once (``scripts/dev setup`` does it, so the test
does not pay for it) and run with the classpath Maven copied next to its classes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROJECT = Path(__file__).parents[2] / "examples" / "java"
CLASSES = PROJECT / "target" / "classes"
LIBS = PROJECT / "target" / "lib"


def _stale() -> bool:
    built = CLASSES / "example" / "FolderTree.class"
    if not built.exists() or not LIBS.is_dir():
        return True
    sources = [PROJECT / "pom.xml", *PROJECT.glob("src/**/*.java")]
    return max(p.stat().st_mtime for p in sources) > built.stat().st_mtime


def ensure_built() -> Path:
    """Build the example with ``mvn package`` unless its classes are newer than its sources."""
    if not _stale():
        return CLASSES
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is not installed; it builds examples/java")
    done = subprocess.run([mvn, "-q", "-B", "-f", str(PROJECT / "pom.xml"), "package"],
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mvn could not build examples/java:\n{done.stdout[-3000:]}")
    return CLASSES


def java_command() -> list[str]:
    """The command that runs the example, before its arguments."""
    ensure_built()
    # A short-lived client: the serial collector and the first JIT tier start it faster.
    return ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", f"{CLASSES}:{LIBS}/*",
            "example.FolderTree"]
