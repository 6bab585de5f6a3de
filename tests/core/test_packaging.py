"""The installable package carries what the services need at run time, not just Python files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_wheel_holds_schemas_templates_static_files_and_migrations(tmp_path: Path) -> None:
    """A wheel built from the project (as the Docker image is) includes every data file."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("schemas/MessageState.avsc", "archive/web/templates/mailbox.html",
                     "archive/web/static/app.js", "archive/store/migrations/script.py.mako",
                     "mfr/cli.py", "extractor/service.py"):
        assert expected in names
    versions = [n for n in names if n.startswith("archive/store/migrations/versions/")]
    assert versions
