"""docker-compose.yml describes a production-like stack (checked here where Docker is absent)."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def test_compose_runs_kafka_in_kraft_mode_with_a_health_check() -> None:
    """Kafka is a KRaft broker+controller, and others wait for its health check."""
    stack = yaml.safe_load(COMPOSE.read_text())
    kafka = stack["services"]["kafka"]
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "healthcheck" in kafka
    for name, service in stack["services"].items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition["condition"] == "service_healthy", (name, dependency)
