"""``mfr extractor`` as a process: clear errors for bad settings, endpoints up, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from simulator import Simulator
from tests.extractor.conftest import PASSWORD, SERVICE
from tests.kafka.broker import free_port


def mfr(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from mfr.cli import main; main()", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_missing_exchange_settings_are_named(tmp_path: Path) -> None:
    """Without the Exchange section the extractor refuses to start and says what is missing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    process = mfr("extractor", env={**env, "MFR_BUS__EMBEDDED_PATH": str(tmp_path / "b.db")})
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "exchange: Field required" in err


def test_the_extractor_serves_health_metrics_and_stops_on_sigterm(
    sim: Simulator, tmp_path: Path
) -> None:
    """Health, readiness and metrics answer; SIGTERM stops it cleanly."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({
        "MFR_BUS__EMBEDDED_PATH": str(tmp_path / "bus.db"),
        "MFR_EXCHANGE__ENDPOINT": sim.endpoint_url, "MFR_EXCHANGE__AUTH": "basic",
        "MFR_EXCHANGE__SERVICE_ACCOUNT": SERVICE, "MFR_EXCHANGE__PASSWORD": PASSWORD,
        "MFR_EXTRACTOR__PORT": str(port),
        "MFR_EXTRACTOR__STATE_PATH": str(tmp_path / "state.db"),
    })
    process = mfr("extractor", env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert "mfr_extractor_cycles" in httpx.get(f"{base}/metrics").text
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert PASSWORD not in err
