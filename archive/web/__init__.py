"""The archive's HTTP face: ingest API, browse API, web UI, health and metrics."""
