"""The extractor: turns change events into authoritative folder and message state with EWS sync
(issue #5)."""
