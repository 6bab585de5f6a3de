"""``mfr simulator``: run the EWS simulator with generated mailboxes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from mfr.options import ConfigOption
from simulator.activity import Activity
from simulator.generator import populate
from simulator.server import Simulator
from simulator.settings import SimulatorSettings

TLS_DIR = Path("var/simulator-tls")


def command(
    mailboxes: Annotated[int | None, typer.Option(help="mailboxes to generate")] = None,
    messages: Annotated[int | None, typer.Option(help="messages per mailbox")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the generator")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (0: any free port)")] = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    activity: Annotated[float | None, typer.Option(help="live changes per second")] = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="serve HTTPS with a certificate of the simulator's own CA")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run an EWS server over simulated mailboxes until interrupted."""
    base = SimulatorSettings.load(config).simulator
    population = base.population.model_copy(
        update={
            k: v
            for k, v in {"mailboxes": mailboxes, "messages": messages, "seed": seed,
                         "activity_per_s": activity}.items()
            if v is not None
        }
    )  # fmt: skip
    updates: dict[str, object] = {
        k: v for k, v in {"port": port, "host": host}.items() if v is not None
    }
    if tls:
        # A CA that outlives the run, so a client trusts it once rather than on every start.
        updates.update(tls=True, tls_dir=base.tls_dir or TLS_DIR)
    settings = base.model_copy(update={**updates, "population": population})
    sim = Simulator(settings)
    made = populate(
        sim.control,
        population.mailboxes,
        population.messages,
        population.seed,
        population.domain,
        population.user_password.get_secret_value(),
    )
    sim.start()
    live = Activity(sim.control, made, population.activity_per_s, population.seed)
    live.start()
    typer.echo(f"EWS endpoint:     {sim.endpoint_url}")
    typer.echo(f"control API:      {sim.url}/control/")
    typer.echo(
        f"service account:  {sim.service_account} (ApplicationImpersonation on all mailboxes)"
    )
    typer.echo(f"password (Basic): {sim.service_password}")
    typer.echo(f"OAuth bearer:     {sim.service_token}")
    typer.echo(
        f"mailboxes:        {len(made)} x {population.messages} messages, seed {population.seed}"
    )
    if made:
        typer.echo(f"e.g.              {made[0]} (user password: see population.user_password)")
    graph = settings.graph
    typer.echo(f"Graph endpoint:   {sim.graph_url}")
    typer.echo(f"token endpoint:   {sim.url}/{graph.tenant_id}/oauth2/v2.0/token")
    typer.echo(f"Graph app:        {graph.client_id} (tenant {graph.tenant_id})")
    typer.echo(f"client secret:    {graph.client_secret.get_secret_value()}")
    if sim.ca_file is not None:
        typer.echo(f"CA to trust:      {sim.ca_file.resolve()}")
    typer.echo("Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
        sim.stop()
