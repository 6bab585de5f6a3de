"""What an admin sees: health, readiness, Prometheus metrics, per-mailbox status, and ``mfr
listener`` as a process that starts from the environment and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mfr.settings import BusSettings
from simulator import Simulator
from tests.kafka.broker import free_port
from tests.listener.conftest import PASSWORD, SERVICE, Make, new_mailboxes
from tests.listener.harness import wait_for


def test_status_metrics_and_readiness(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Ready once subscribed; /status tells each mailbox's subscription, group, last event and
    last error; /metrics counts events by type, subscriptions, connections and produce latency."""
    good = new_mailboxes(sim, 2)
    harness = make_listener(embedded_bus, mailboxes=[*good, "nobody@sim.example"])
    ready = harness.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["subscribed"] == 2
    wait_for(lambda: all(s["connections"] for s in sim.control.subscriptions()), 20, "streaming")
    item_id = sim.control.create_item(good[0], subject="seen")
    harness.changes.until(lambda e: any(x["id"] == item_id for x in e), 30, "the event")
    wait_for(lambda: harness.get("/status").json()["mailboxes"][good[0]]["last_event"], 10,
             "last event on /status")
    status = harness.get("/status").json()
    assert status["mode"] == "streaming"
    mine = status["mailboxes"][good[0]]
    assert mine["subscribed"] is True
    assert mine["group"]
    assert mine["subscription_id"]
    missing = status["mailboxes"]["nobody@sim.example"]
    assert missing["subscribed"] is False
    assert "ErrorNonExistentMailbox" in missing["last_error"]
    metrics = harness.get("/metrics").text
    for line in ('mfr_listener_events_total{type="NewMail"} 1.0',
                 "mfr_listener_subscriptions 2.0",
                 'mfr_listener_resyncs_total{reason="listener started"} 2.0',
                 "mfr_listener_streaming_connections ",
                 'mfr_listener_produce_seconds_count{result="ok"}'):
        assert line in metrics, line
    for state, count in (("subscribed", 2), ("subscribing", 0), ("failing", 1)):
        assert f'mfr_listener_mailboxes{{state="{state}"}} {count}.0' in metrics, state
    assert "_created" not in metrics
    assert harness.get("/healthz").json() == {"status": "ok"}


def _mfr(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from mfr.cli import main; main()",
                             "listener"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_mfr_listener_runs_from_the_environment_and_stops_on_sigterm(
    sim: Simulator, tmp_path: Path
) -> None:
    """``mfr listener`` reads its settings from MFR_* variables, becomes ready, logs without the
    password, and exits 0 on SIGTERM."""
    mailboxes = new_mailboxes(sim, 3)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({
        "MFR_BUS__EMBEDDED_PATH": str(tmp_path / "bus.db"),
        "MFR_EXCHANGE__ENDPOINT": sim.endpoint_url, "MFR_EXCHANGE__AUTH": "basic",
        "MFR_EXCHANGE__SERVICE_ACCOUNT": SERVICE, "MFR_EXCHANGE__PASSWORD": PASSWORD,
        "MFR_EXCHANGE__VERSION": "Exchange2016",
        "MFR_LISTENER__MAILBOXES": '["' + '","'.join(mailboxes) + '"]',
        "MFR_LISTENER__PORT": str(port),
    })
    process = _mfr(env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "not ready in time"
            time.sleep(0.2)
        status = httpx.get(f"http://127.0.0.1:{port}/status").json()["mailboxes"]
        assert all(status[m]["subscribed"] for m in mailboxes)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    assert PASSWORD not in err
    assert "subscribed" in err


def test_missing_settings_are_named(tmp_path: Path) -> None:
    """Push mode without a callback URL refuses to start and says why."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({"MFR_BUS__EMBEDDED_PATH": str(tmp_path / "b.db"),
                "MFR_EXCHANGE__SERVICE_ACCOUNT": "svc", "MFR_EXCHANGE__PASSWORD": "x",
                "MFR_LISTENER__MODE": "push"})
    process = _mfr(env)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "push.callback_base_url" in err
