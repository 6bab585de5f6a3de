"""``mfr simulator``: run the EWS simulator with generated mailboxes."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from mfr.options import ConfigOption
from simulator.activity import Activity
from simulator.generator import populate
from simulator.server import Simulator
from simulator.settings import SimulatorSettings


def command(
    mailboxes: Annotated[int | None, typer.Option(help="mailboxes to generate")] = None,
    messages: Annotated[int | None, typer.Option(help="messages per mailbox")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the generator")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (0: any free port)")] = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    activity: Annotated[float | None, typer.Option(help="live changes per second")] = None,
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
    updates = {k: v for k, v in {"port": port, "host": host}.items() if v is not None}
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
    typer.echo("Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
        sim.stop()
