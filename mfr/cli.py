"""``mfr``: one command, a subcommand per service.

Each service package plugs in by defining ``command`` (a function with Typer-annotated parameters)
in its ``cli`` module; the single-machine modes are functions of ``pipeline.cli`` named after
their subcommand. One not built yet answers plainly that it is not there.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from mfr.bus import open_bus
from mfr.certs import keystore_file, server_files
from mfr.codec import Codec
from mfr.errors import ConfigError, MfrError
from mfr.options import ConfigOption
from mfr.resync import request_resync
from mfr.settings import MfrSettings
from mfr.topics import Topic, topic_name, topic_specs

app = typer.Typer(
    help="Mailbox Folder Replication: a live, replayable copy of Exchange mailboxes' structure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

SERVICES = {
    "simulator": ("An EWS server for tests, demos and benchmarks.", 3),
    "listener": ("Hold EWS subscriptions; publish change events.", 4),
    "extractor": ("Turn change events into folder and message state.", 5),
    "publisher": ("Feed the archive from the state topics.", 6),
    "archive": ("Serve the archive: store, API and web UI.", 6),
}
LATER = {
    "demo": ("Run the whole pipeline on a laptop against the simulator.", 7),
    "run": ("Run every stage in one process (single-machine production).", 7),
    "replay": ("Rebuild an archive database from the topics.", 7),
}

topics_app = typer.Typer(help="The bus's topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def create_topics(config: ConfigOption = None) -> None:
    """Create the pipeline's topics on the configured bus (those that are missing)."""
    settings = MfrSettings.load(config).bus
    specs = topic_specs(settings).values()
    with open_bus(settings) as bus:
        bus.ensure_topics(specs)
    where = settings.kafka_bootstrap_servers or settings.embedded_path
    for spec in specs:
        typer.echo(f"{spec.name}\t{spec.partitions} partitions\t{spec.config} on {where}")


@app.command("resync")
def resync(
    mailbox: Annotated[str, typer.Option("--mailbox", help="the mailbox's SMTP address")],
    folder: Annotated[
        str | None, typer.Option("--folder", help="one folder's key (as the archive shows it); "
                                 "unset: the whole mailbox")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Have the extractor read a mailbox (or one folder) again from scratch: keys kept,
    nothing duplicated, messages no longer there marked deleted."""
    settings = MfrSettings.load(config).bus
    with open_bus(settings) as bus:
        bus.ensure_topics(topic_specs(settings).values())
        with bus.producer() as producer:
            sent = request_resync(producer, Codec(), topic_name(settings, Topic.CHANGES),
                                  mailbox, folder, "mfr resync")
    scope = f"folder {folder}" if folder else "every folder"
    typer.echo(f"resync of {sent['mailbox']} ({scope}) requested: event {sent['event_id']}")


@app.command("certs")
def make_certs(
    directory: Annotated[Path, typer.Option("--dir", help="where the files go")],
    host: Annotated[
        list[str], typer.Option("--host", help="a name the server certificate must carry")
    ],
    key_owner: Annotated[
        str | None, typer.Option(help="user (name or uid) to own the server key")
    ] = None,
    keystore_owner: Annotated[
        str | None, typer.Option(help="user (name or uid) to own Kafka's key store")
    ] = None,
) -> None:
    """Make a private CA and a server certificate for HTTPS and Kafka's TLS (kept and reused
    while they fit): for a stack with no CA of its organisation at hand, such as Docker Compose.
    Keys stay readable by their owner only; the owners let another user's server read them."""
    files = server_files(directory, tuple(host), label="Mailbox Folder Replication")
    keystore = keystore_file(files)
    try:
        for path, owner in ((files.key_file, key_owner), (keystore, keystore_owner)):
            if owner is not None:
                shutil.chown(path, user=int(owner) if owner.isdigit() else owner)
    except (LookupError, OSError) as exc:
        raise ConfigError(f"cannot hand the key files over: {exc}") from exc
    typer.echo(f"CA (clients trust it): {files.ca_file}")
    typer.echo(f"server certificate: {files.cert_file} for {', '.join(host)}")
    typer.echo(f"server key: {files.key_file}; Kafka's PEM key store: {keystore}")


def _not_yet(name: str, issue: int) -> Callable[[], None]:
    def placeholder() -> None:
        typer.echo(f"`mfr {name}` is not built yet (issue #{issue}); nothing started.", err=True)
        raise typer.Exit(2)

    return placeholder


def _register() -> None:
    for name, (summary, issue) in SERVICES.items():
        try:
            module = importlib.import_module(f"{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name not in (name, f"{name}.cli"):
                raise
            app.command(name, help=f"{summary} (not built yet)")(_not_yet(name, issue))
            continue
        app.command(name, help=summary)(module.command)
    try:
        pipeline = importlib.import_module("pipeline.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("pipeline", "pipeline.cli"):
            raise
        pipeline = None
    for name, (summary, issue) in LATER.items():
        built = getattr(pipeline, name, None)
        if built is None:
            app.command(name, help=f"{summary} (not built yet)")(_not_yet(name, issue))
        else:
            app.command(name, help=summary)(built)


def main() -> None:
    """Entry point of the ``mfr`` console script."""
    _register()
    try:
        app()
    except MfrError as exc:
        typer.echo(f"mfr: {exc}", err=True)
        raise SystemExit(1) from exc
