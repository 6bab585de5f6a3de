"""``mfr archive``: serve the archive, or do one admin task and exit.

    mfr archive                                   serve (migrates the database first)
    mfr archive --add-user alice@corp.example     create a user (password from a prompt or stdin)
    mfr archive --add-user bob@corp.example --mailbox shared@corp.example   with a delegation
    mfr archive --add-user ops --admin            an admin (sees every mailbox and the admin page)
    mfr archive --set-password alice@corp.example
    mfr archive --list-users                      users, their grants and API tokens
    mfr archive --remove-user bob@corp.example    with their grants, sessions and tokens
    mfr archive --add-api-token alice@corp.example --name export-script   (shown once)
    mfr archive --list-tokens                     every API token (with its id) and ingest token
    mfr archive --revoke-token 12                 revoke the API token with id 12
    mfr archive --add-token publisher-1           an ingest token for a publisher (shown once)
    mfr archive --revoke-ingest-token publisher-1
    mfr archive --purge-now                       run the retention purge once
    mfr archive --unlock alice@corp.example       lift a sign-in lock (an account or an address)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy import Engine

from archive.accounts import (
    add_token,
    add_user,
    list_ingest_tokens,
    list_users,
    mailbox_address,
    remove_user,
    revoke_ingest_token,
    set_password,
    user_name,
)
from archive.audit import AuditLog
from archive.errors import AccountError
from archive.lockout import Lockout
from archive.retention import purge
from archive.settings import ArchiveConfig, ArchiveSettings
from archive.store.engine import migrate, open_engine
from archive.tokens import create_api_token, list_api_tokens, revoke_api_token
from archive.web.app import create_app
from mfr.options import ConfigOption
from mfr.resync import BusResync
from mfr.serve import serve

Task = Callable[[Engine, ArchiveSettings], None]


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
    list_users_flag: Annotated[
        bool, typer.Option("--list-users", help="list users, their mailboxes and tokens, exit")
    ] = False,
    remove_user_name: Annotated[
        str | None, typer.Option("--remove-user", help="remove this user (and their tokens), exit")
    ] = None,
    add_api_token_user: Annotated[
        str | None,
        typer.Option("--add-api-token", help="create a personal API token for this user, exit"),
    ] = None,
    token_label: Annotated[
        str, typer.Option("--name", help="with --add-api-token: the token's name")
    ] = "api",  # noqa: S107 - a label, not a secret
    list_tokens_flag: Annotated[
        bool, typer.Option("--list-tokens", help="list API and ingest tokens, then exit")
    ] = False,
    revoke_token_id: Annotated[
        int | None, typer.Option("--revoke-token", help="revoke the API token with this id, exit")
    ] = None,
    add_token_name: Annotated[
        str | None, typer.Option("--add-token", help="create an ingest token, print it, exit")
    ] = None,
    revoke_ingest_name: Annotated[
        str | None, typer.Option("--revoke-ingest-token", help="revoke this ingest token, exit")
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
    tasks: list[Task | None] = [
        None if add_user_name is None else _add_user(add_user_name, admin, mailbox or []),
        None if set_password_name is None else _set_password(set_password_name),
        _list_users if list_users_flag else None,
        None if remove_user_name is None else _remove_user(remove_user_name),
        None if add_api_token_user is None else _add_api_token(add_api_token_user, token_label),
        _list_tokens if list_tokens_flag else None,
        None if revoke_token_id is None else _revoke_token(revoke_token_id),
        None if add_token_name is None else _add_ingest_token(add_token_name),
        None if revoke_ingest_name is None else _revoke_ingest_token(revoke_ingest_name),
        _purge if purge_now else None,
        None if unlock_name is None else _unlock(unlock_name),
    ]
    chosen = [task for task in tasks if task]
    loaded = ArchiveConfig.load(config)
    settings = loaded.archive
    engine = open_engine(settings.database_url.get_secret_value())
    migrate(engine)
    if not chosen:
        resync = BusResync(loaded.bus)  # the admin page's resync requests
        serve(create_app(settings, engine, resync=resync), host or settings.host,
              settings.port if port is None else port, log_level="info",
              tls=settings.tls, ops=settings.ops, what="the archive")
        resync.close()
        engine.dispose()
        return
    try:
        chosen[0](engine, settings)
    except AccountError as exc:
        typer.echo(f"mfr archive: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


def _add_user(name: str, admin: bool, mailboxes: list[str]) -> Task:
    def task(engine: Engine, _: ArchiveSettings) -> None:
        user_name(name)  # a bad name or address is refused before the password is asked
        for address in mailboxes:
            mailbox_address(address)
        add_user(engine, name, _password(), admin=admin, mailboxes=mailboxes)
        typer.echo(f"user {name.strip().lower()} created")

    return task


def _set_password(name: str) -> Task:
    def task(engine: Engine, _: ArchiveSettings) -> None:
        set_password(engine, name, _password())
        typer.echo(f"password of {name} changed; their sessions ended")

    return task


def _list_users(engine: Engine, _: ArchiveSettings) -> None:
    for user in list_users(engine):
        kind = "password" if user.has_password else "identity provider"
        role = "admin" if user.is_admin else "user"
        typer.echo(f"{user.username}\t{role}\t{kind}\tmailboxes: "
                   f"{', '.join(user.mailboxes) or '-'}\tAPI tokens: {user.api_tokens}")


def _remove_user(name: str) -> Task:
    def task(engine: Engine, settings: ArchiveSettings) -> None:
        remove_user(engine, name)
        AuditLog(settings.audit_path()).record("user_removed", user=None, client="cli",
                                               removed=name)
        typer.echo(f"user {name} removed, with their sessions and API tokens")

    return task


def _add_api_token(user: str, label: str) -> Task:
    def task(engine: Engine, _: ArchiveSettings) -> None:
        typer.echo(create_api_token(engine, user, label))

    return task


def _list_tokens(engine: Engine, _: ArchiveSettings) -> None:
    for token in list_api_tokens(engine):
        typer.echo(f"api\t{token.id}\t{token.username}\t{token.name}")
    for name, _created, revoked in list_ingest_tokens(engine):
        typer.echo(f"ingest\t{name}\t{'revoked' if revoked else 'live'}")


def _revoke_token(token_id: int) -> Task:
    def task(engine: Engine, settings: ArchiveSettings) -> None:
        if not revoke_api_token(engine, token_id):
            raise AccountError(f"no API token with id {token_id} (see --list-tokens)")
        AuditLog(settings.audit_path()).record("api_token_revoked", user=None, client="cli",
                                               id=token_id)
        typer.echo(f"API token {token_id} revoked")

    return task


def _add_ingest_token(name: str) -> Task:
    def task(engine: Engine, _: ArchiveSettings) -> None:
        typer.echo(add_token(engine, name))

    return task


def _revoke_ingest_token(name: str) -> Task:
    def task(engine: Engine, _: ArchiveSettings) -> None:
        revoke_ingest_token(engine, name)
        typer.echo(f"ingest token {name} revoked")

    return task


def _purge(engine: Engine, settings: ArchiveSettings) -> None:
    typer.echo(f"purged: {vars(purge(engine, settings.retention_days))}")


def _unlock(name: str) -> Task:
    def task(engine: Engine, settings: ArchiveSettings) -> None:
        cleared = Lockout(engine, settings).unlock(name)
        AuditLog(settings.audit_path()).record(
            "unlock", user=None, client="cli", scope=name, cleared=cleared
        )
        typer.echo(f"{name}: " + ("unlocked" if cleared else "was not locked"))

    return task


def _password() -> str:
    if sys.stdin.isatty():
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    return sys.stdin.readline().rstrip("\n")
