"""``mfr archive``: serve the archive, or do one admin task and exit.

    mfr archive                                   serve (migrates the database first)
    mfr archive --add-user alice@corp.example     create a user (password from a prompt or stdin)
    mfr archive --add-user bob@corp.example --mailbox shared@corp.example   with a delegation
    mfr archive --add-user ops --admin            an admin (sees every mailbox and the admin page)
    mfr archive --set-password alice@corp.example
    mfr archive --add-token publisher-1           an ingest token for a publisher (shown once)
    mfr archive --purge-now                       run the retention purge once
    mfr archive --unlock alice@corp.example       lift a sign-in lock (an account or an address)
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from archive.accounts import add_token, add_user, set_password
from archive.audit import AuditLog
from archive.lockout import Lockout
from archive.retention import purge
from archive.settings import ArchiveConfig
from archive.store.engine import migrate, open_engine
from archive.web.app import create_app
from mfr.options import ConfigOption
from mfr.serve import serve


def command(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    add_user_name: Annotated[
        str | None, typer.Option("--add-user", help="create this user, then exit")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="with --add-user: an admin")] = False,
    mailbox: Annotated[
        list[str] | None,
        typer.Option("--mailbox", help="with --add-user: also grant this mailbox (repeatable)"),
    ] = None,
    set_password_name: Annotated[
        str | None, typer.Option("--set-password", help="change this user's password, then exit")
    ] = None,
    add_token_name: Annotated[
        str | None, typer.Option("--add-token", help="create an ingest token, print it, exit")
    ] = None,
    purge_now: Annotated[
        bool, typer.Option("--purge-now", help="run the retention purge once, then exit")
    ] = False,
    unlock_name: Annotated[
        str | None,
        typer.Option("--unlock", help="lift the sign-in lock of an account or address, exit"),
    ] = None,
) -> None:
    """Serve the archive (store, ingest and browse API, web UI), or run one admin task."""
    settings = ArchiveConfig.load(config).archive
    engine = open_engine(settings.database_url.get_secret_value())
    migrate(engine)
    if add_user_name:
        add_user(engine, add_user_name, _password(), admin=admin, mailboxes=mailbox or [])
        typer.echo(f"user {add_user_name.strip().lower()} created")
    elif set_password_name:
        set_password(engine, set_password_name, _password())
        typer.echo(f"password of {set_password_name} changed; their sessions ended")
    elif add_token_name:
        typer.echo(add_token(engine, add_token_name))
    elif purge_now:
        typer.echo(f"purged: {vars(purge(engine, settings.retention_days))}")
    elif unlock_name:
        cleared = Lockout(engine, settings).unlock(unlock_name)
        AuditLog(settings.audit_path()).record(
            "unlock", user=None, client="cli", scope=unlock_name, cleared=cleared
        )
        typer.echo(f"{unlock_name}: " + ("unlocked" if cleared else "was not locked"))
    else:
        serve(create_app(settings, engine), host or settings.host,
              settings.port if port is None else port, log_level="info",
              tls=settings.tls, ops=settings.ops, what="the archive")
        engine.dispose()


def _password() -> str:
    if sys.stdin.isatty():
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    return sys.stdin.readline().rstrip("\n")
