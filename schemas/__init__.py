"""The Avro contract: one ``.avsc`` file per record type, all in the ``mfr.replication`` namespace.

The files are the contract; this package only tells code where they are.
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent

__all__ = ["SCHEMA_DIR"]
