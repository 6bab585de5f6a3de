"""The archive: store, API and web UI users browse during an outage (issue #6)."""
