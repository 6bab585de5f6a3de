"""The archive: stores replicated folder and message state with its history, and serves it to
users (browse API, web UI) and to the publisher (ingest API)."""
