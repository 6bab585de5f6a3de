"""The archive's database as the single-machine modes use it: opened, migrated, checked for
content, and given an ingest token for the in-process publisher."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, select

from archive.accounts import add_token
from archive.store.engine import migrate, open_engine
from archive.store.tables import (
    folder_history,
    folders,
    ingest_tokens,
    mailbox_status,
    mailboxes,
    message_history,
    messages,
)

_DATA = (mailboxes, folders, folder_history, messages, message_history, mailbox_status)


def open_archive(url: str) -> Engine:
    """The archive database at ``url`` (a SQLAlchemy URL), its schema brought up to date."""
    engine = open_engine(url)
    migrate(engine)
    return engine


def holds_data(engine: Engine) -> bool:
    """Whether the archive holds any replicated data (users and tokens do not count)."""
    with engine.connect() as conn:
        return any(
            conn.execute(select(func.count()).select_from(table)).scalar_one() for table in _DATA
        )


def fresh_token(engine: Engine, name: str) -> str:
    """A new ingest token called ``name``, replacing one of that name left by an earlier run."""
    drop_token(engine, name)
    return add_token(engine, name)


def drop_token(engine: Engine, name: str) -> None:
    """Remove the ingest token ``name``, if any: in-process tokens are never needed again."""
    with engine.begin() as conn:
        conn.execute(delete(ingest_tokens).where(ingest_tokens.c.name == name))


def sqlalchemy_url(target: str) -> str:
    """``target`` as a SQLAlchemy URL: a URL stays as it is, a file path becomes SQLite."""
    return target if "://" in target else f"sqlite:///{target}"
