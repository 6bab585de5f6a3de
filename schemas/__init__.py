"""The Avro contract: one ``.avsc`` file per record type, all in the ``mfr.replication`` namespace.

The files are the contract; this package only tells code where they are. ``released/<Name>/``
keeps every released version of each schema (``v1.avsc``, ``v2.avsc``...), never edited once
released, so records written with any of them stay readable (README, "Schema evolution").
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
RELEASED_DIR = SCHEMA_DIR / "released"

__all__ = ["RELEASED_DIR", "SCHEMA_DIR"]
