"""The publisher: feeds the archive from the state topics, exactly once (issue #6)."""
