"""What listens where: probes open, ``/status`` and ``/metrics`` for loopback, token holders or a
separate ops address only; the token only from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from listener.settings import ListenerSettings
from mfr.errors import ConfigError
from mfr.opsguard import OpsGuard
from mfr.settings import OpsAccess, ServerTls
from publisher.metrics import HealthServer, PublisherMetrics
from tests.kafka.broker import free_port
from tests.tls.conftest import Pki, refused, trusting

TOKEN = "ops-token-for-tests-0123456789"
ELSEWHERE = ("192.0.2.7", 40000)  # TEST-NET-1: a client that is not on this machine


def _app() -> FastAPI:
    app = FastAPI()
    for path in ("/healthz", "/readyz", "/status", "/metrics", "/push/abc"):
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    return app


def _client(access: OpsAccess, client: tuple[str, int], role: str = "main") -> TestClient:
    return TestClient(OpsGuard(_app(), access, role), client=client)  # type: ignore[arg-type]


def test_by_default_status_and_metrics_answer_loopback_clients_only() -> None:
    """No token, no ops address: a remote client gets the probes and the push path, and a 403
    that says how to open the rest; a loopback client gets everything."""
    remote = _client(OpsAccess(), ELSEWHERE)
    assert [remote.get(p).status_code for p in ("/healthz", "/readyz", "/push/abc")] == [200] * 3
    for path in ("/status", "/metrics"):
        answer = remote.get(path)
        assert answer.status_code == 403
        assert "ops token or an ops address" in answer.json()["detail"]
    for host in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert _client(OpsAccess(), (host, 1)).get("/metrics").status_code == 200


def test_a_token_opens_them_to_whoever_holds_it_and_only_them() -> None:
    """With a token every caller needs it, loopback too (a local reverse proxy must not open
    them); a wrong token or scheme is 401 with a Bearer challenge."""
    access = OpsAccess(token=TOKEN)  # type: ignore[arg-type]
    for client in (ELSEWHERE, ("127.0.0.1", 1)):
        guarded = _client(access, client)
        assert guarded.get("/healthz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            answer = guarded.get("/status", headers=headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
        ok = guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200


def test_an_ops_address_takes_them_off_the_main_one() -> None:
    """With ``ops.host``, the main address answers 404 for /status and /metrics; the ops
    address serves only probes, /status and /metrics (to anyone who can reach it)."""
    access = OpsAccess(host="127.0.0.1", port=0)
    main = _client(access, ("127.0.0.1", 1))
    assert main.get("/metrics").status_code == 404
    assert main.get("/push/abc").status_code == 200
    ops = _client(access, ELSEWHERE, role="ops")
    assert [ops.get(p).status_code for p in ("/healthz", "/status", "/metrics")] == [200] * 3
    assert ops.get("/push/abc").status_code == 404


def test_the_token_comes_from_the_environment_only(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A config file holding an ops token is refused, naming the variable to use instead."""
    config = tmp_path / "mfr.toml"
    config.write_text(f'[exchange]\nendpoint = "https://mail.example.test/EWS/Exchange.asmx"\n'
                      f'service_account = "svc"\n\n[listener.ops]\ntoken = "{TOKEN}"\n')
    with pytest.raises(ConfigError, match="MFR_LISTENER__OPS__TOKEN"):
        ListenerSettings.load(config)
    config.write_text('[exchange]\nendpoint = "https://mail.example.test/EWS/Exchange.asmx"\n'
                      'service_account = "svc"\n\n[listener.ops]\nhost = "127.0.0.1"\n')
    monkeypatch.setenv("MFR_EXCHANGE__PASSWORD", "pw")
    monkeypatch.setenv("MFR_LISTENER__OPS__TOKEN", TOKEN)
    ops = ListenerSettings.load(config).listener.ops
    assert ops.token is not None
    assert ops.token.get_secret_value() == TOKEN
    assert ops.separate
    with pytest.raises(ConfigError, match=r"cert_file and tls\.key_file go together"):
        ListenerSettings.load(config, listener={"tls": {"cert_file": str(config)}})


def test_publisher_health_port_speaks_https_and_guards_metrics(pki: Pki) -> None:
    """The publisher's health server over HTTPS: a client trusting the CA reads the probes and,
    with the token, /metrics; a client that does not trust it is refused."""
    tls = ServerTls(cert_file=pki.ours.cert_file, key_file=pki.ours.key_file)
    server = HealthServer(PublisherMetrics(), "127.0.0.1", 0, tls,
                          OpsAccess(token=TOKEN))  # type: ignore[arg-type]
    server.start()
    try:
        url = f"https://127.0.0.1:{server.port}"
        with trusting(pki.ours.ca_file) as client:
            assert client.get(f"{url}/healthz").json() == {"status": "ok"}
            assert client.get(f"{url}/metrics").status_code == 401
            metrics = client.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert "mfr_publisher_consumed_records" in metrics.text
        assert "CERTIFICATE_VERIFY_FAILED" in refused(f"{url}/healthz", pki.stranger_ca)
        assert "CERTIFICATE_VERIFY_FAILED" in refused(f"{url}/healthz", None)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)  # no plain HTTP
    finally:
        server.stop()


def test_mfr_archive_serves_https_with_metrics_on_a_separate_address(
    pki: Pki, tmp_path: Path
) -> None:
    """``mfr archive`` with [archive.tls] and [archive.ops]: the UI over HTTPS on the main port,
    /metrics there 404; on the ops address /metrics over HTTPS with the token (environment)."""
    port, ops_port = free_port(), free_port()
    config = tmp_path / "mfr.toml"
    config.write_text(f"""
[archive]
database_url = "sqlite:///{tmp_path / 'archive.sqlite3'}"
audit_log = "{tmp_path / 'audit.jsonl'}"
port = {port}

[archive.tls]
cert_file = "{pki.ours.cert_file}"
key_file = "{pki.ours.key_file}"

[archive.ops]
host = "127.0.0.1"
port = {ops_port}
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env.update({"PYTHONPATH": os.pathsep.join(sys.path), "MFR_ARCHIVE__OPS__TOKEN": TOKEN})
    process = subprocess.Popen(
        [sys.executable, "-c", "from mfr.cli import main; main()", "archive", "-c", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    main, ops = f"https://127.0.0.1:{port}", f"https://127.0.0.1:{ops_port}"
    try:
        with trusting(pki.ours.ca_file) as client:
            _wait_until_serving(client, f"{main}/healthz", process)
            assert client.get(f"{main}/login").status_code == 200
            assert client.get(f"{main}/metrics").status_code == 404
            assert client.get(f"{ops}/readyz").json() == {"status": "ready"}
            assert client.get(f"{ops}/metrics").status_code == 401
            assert client.get(f"{ops}/login").status_code == 404
            metrics = client.get(f"{ops}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert metrics.status_code == 200
        assert "CERTIFICATE_VERIFY_FAILED" in refused(f"{main}/healthz", pki.stranger_ca)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-3000:]
    assert TOKEN not in err


def _wait_until_serving(client: httpx.Client, url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.communicate()[1][-3000:]
        try:
            if client.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the archive did not serve in time"
        time.sleep(0.1)
