"""docker-compose.yml describes the full stack (checked here where Docker is absent): Kafka,
PostgreSQL and the four services from the project's image, with health checks, start order by
health, commands that exist, the example config mounted and secrets from the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.settings import RunSettings

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
EXAMPLE = ROOT / "deploy" / "mfr.example.toml"
SERVICES = ("listener", "extractor", "publisher", "archive")


def stack() -> dict[str, Any]:
    """The compose file, parsed (anchors and merge keys resolved)."""
    import yaml  # noqa: PLC0415 - a test-only dependency

    parsed: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return parsed


def one_shot(service: dict[str, Any]) -> bool:
    """A job that runs once and exits (it is waited for by completion, not health)."""
    return service.get("restart") == "no"


def test_compose_runs_kafka_in_kraft_mode_and_postgres() -> None:
    """Kafka is a KRaft broker+controller; PostgreSQL holds the archive."""
    services = stack()["services"]
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["postgres"]["image"].startswith("postgres:")
    assert "@postgres:5432/" in services["archive"]["environment"]["MFR_ARCHIVE__DATABASE_URL"]


def test_every_long_running_service_has_a_health_check_and_waits_for_health() -> None:
    """Every service but one-shot jobs is health-checked; every dependency is waited for until
    healthy (or, for a one-shot job, until it completed successfully)."""
    services = stack()["services"]
    assert set(SERVICES) <= set(services)
    for name, service in services.items():
        if not one_shot(service):
            assert service.get("healthcheck", {}).get("test"), name
        for dependency, condition in (service.get("depends_on") or {}).items():
            expected = ("service_completed_successfully" if one_shot(services[dependency])
                        else "service_healthy")
            assert condition["condition"] == expected, (name, dependency)
    assert set(services["publisher"]["depends_on"]) >= {"kafka", "archive"}


def test_the_services_commands_exist() -> None:
    """Each container runs an ``mfr`` subcommand that ``mfr --help`` lists."""
    shown = subprocess.run(
        [sys.executable, "-c", "from mfr.cli import main; main()", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
        env={"COLUMNS": "200", "PYTHONPATH": os.pathsep.join(sys.path)},
    ).stdout
    listed = set(re.findall(r"^│ (\w[\w-]*) ", shown, flags=re.MULTILINE))
    for name, service in stack()["services"].items():
        command = service.get("command")
        if "build" in service:
            assert command[0] == "mfr", name
            assert command[1] in listed, (name, command, listed)
    for name in SERVICES:
        assert stack()["services"][name]["command"][1] == name


def test_services_read_the_mounted_example_config_and_secrets_from_the_environment() -> None:
    """The example config is mounted where MFR_CONFIG points; no secret is written inline."""
    for name, service in stack()["services"].items():
        if "build" not in service or name == "certs":  # certs makes files and reads no settings
            continue
        mounts = [v.split(":") for v in service["volumes"]]
        assert ["./deploy/mfr.example.toml", service["environment"]["MFR_CONFIG"], "ro"] in mounts
        for key, value in service["environment"].items():
            if re.search("PASSWORD|TOKEN|SECRET|DATABASE_URL", key):
                assert "${" in str(value), (name, key)


def test_the_image_installs_every_package_the_services_import() -> None:
    """The Dockerfile copies every top-level package the project installs."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:
        assert f"COPY {package} {package}" in dockerfile, package
    assert "pip install" in dockerfile


def test_the_example_config_is_complete_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/mfr.example.toml has every section and loads as ``mfr run`` reads it."""
    sections = set(tomllib.loads(EXAMPLE.read_text()))
    assert sections == {"bus", "exchange", "listener", "extractor", "publisher", "archive"}
    for name in list(os.environ):
        if name.startswith("MFR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MFR_EXCHANGE__PASSWORD", "from-the-environment")
    settings = RunSettings.load(EXAMPLE)
    assert settings.exchange.password == SecretStr("from-the-environment")
    assert settings.listener.mailboxes


def test_kafka_is_reached_only_over_sasl_ssl_and_the_archive_over_https() -> None:
    """Kafka publishes no port and offers clients only a SASL_SSL listener (its plaintext one
    is on the container's loopback); every service connects with SCRAM over TLS, the password
    from the environment; the archive serves HTTPS and the publisher trusts the stack's CA."""
    services = stack()["services"]
    kafka = services["kafka"]
    assert "ports" not in kafka
    env = kafka["environment"]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    for listener in env["KAFKA_LISTENERS"].split(","):
        name, address = listener.split("://")
        assert protocols[name] == "SASL_SSL" or address.startswith("127.0.0.1:"), listener
    for name in SERVICES:
        service_env = services[name]["environment"]
        assert service_env["MFR_BUS__KAFKA_SECURITY__SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert service_env["MFR_BUS__KAFKA_SECURITY__SASL_PLAIN_PASSWORD"].startswith("${"), name
        assert "/etc/mfr/tls" in " ".join(services[name]["volumes"]), name
    assert services["archive"]["environment"]["MFR_ARCHIVE__TLS__CERT_FILE"]
    assert services["publisher"]["environment"]["MFR_PUBLISHER__ARCHIVE_URL"].startswith("https://")
    assert services["certs"]["command"][:2] == ["mfr", "certs"]
