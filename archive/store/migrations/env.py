"""Alembic environment: runs on the engine the archive passes in (never reads a URL itself)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from archive.store.tables import metadata

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)  # noqa: S101 - set by archive.store.engine.alembic_config

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
