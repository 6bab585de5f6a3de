"""The ingest side of the archive: the wire format the publisher sends, and applying it."""
