"""The convergence run as a soak: longer, more mailboxes, every fault kind round after round,
push subscriptions expiring too. ``./scripts/dev soak --minutes 30 [--kafka]``.

Exits 0 when the archive ended equal to Exchange's ground truth and the replay equal to the live
archive; 1 otherwise. Everything (logs, databases, ``truth.json`` on a mismatch) stays in the
printed work folder.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from mfr.settings import BusSettings
from simulator import Simulator
from tests.convergence.run import Convergence, Plan
from tests.convergence.test_convergence import simulator_section
from tests.kafka.broker import KafkaBroker

ROUND_S = 60.0  # about how long one round of every fault kind takes


def soak(
    minutes: Annotated[float, typer.Option(help="how long the activity lasts, at least")] = 30.0,
    kafka: Annotated[bool, typer.Option(help="run on a Kafka broker started here")] = False,
    seed: Annotated[int, typer.Option(help="seeds the user, the faults and the mailboxes")] = 11,
    mailboxes: Annotated[int, typer.Option(help="simulated mailboxes")] = 20,
    rate: Annotated[float, typer.Option(help="user actions per second")] = 10.0,
    api: Annotated[str, typer.Option(help="ews, or graph (webhooks and delta over TLS)")] = "ews",
) -> None:
    """Run the convergence test for ``minutes`` and print its report."""
    if api not in ("ews", "graph"):
        raise typer.BadParameter(f"--api is ews or graph, not {api!r}")
    workdir = Path(tempfile.mkdtemp(prefix="mfr-soak-"))
    plan = Plan(seed=seed, mailboxes=mailboxes, messages=60, actions=int(minutes * 60 * rate),
                rate=rate, fault_rounds=max(1, round(minutes * 60 / ROUND_S)),
                drain_timeout_s=600.0, expire_push=True)
    typer.echo(f"soak: {minutes:g} min, {mailboxes} mailboxes, seed {seed}; work in {workdir}")
    broker = KafkaBroker(workdir / "kafka") if kafka else None
    started = time.monotonic()
    try:
        if broker is not None:
            broker.start()
            bus = BusSettings(kafka_bootstrap_servers=broker.bootstrap, partitions=6,
                              session_timeout_s=6.0, topic_prefix="soak")
        else:
            bus = BusSettings(embedded_path=workdir / "bus.sqlite3", session_timeout_s=2.0,
                              topic_prefix="soak")
        section = simulator_section()
        if api == "graph":  # msal, the Graph path's token client, accepts only https authorities
            section = section.model_copy(update={"tls": True, "tls_dir": workdir / "tls"})
        with Simulator(section) as sim:
            report = Convergence(plan, sim, bus, workdir, broker, api=api).run()
    finally:
        if broker is not None:
            broker.stop()
    typer.echo(report.text())
    typer.echo(f"took {(time.monotonic() - started) / 60:.1f} min")
    raise typer.Exit(0 if report.verdict.equal and report.replay_equal else 1)


if __name__ == "__main__":
    typer.run(soak)
