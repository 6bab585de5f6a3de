"""The publisher: feeds the folder, message and status topics to the archive's ingest API."""
