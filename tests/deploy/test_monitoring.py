"""The operators' monitoring in deploy/ is checked, not just written: Prometheus's own ``promtool``
validates the alerting rules and runs their unit tests on synthetic series, every metric the rules
and the Grafana dashboard query is one a service really exports, and docker-compose.yml wires
Prometheus and Grafana to those files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from archive.metrics import ArchiveMetrics
from extractor.metrics import Metrics as ExtractorMetrics
from listener.metrics import Metrics as ListenerMetrics
from mfr.certs import server_files
from publisher.metrics import PublisherMetrics

ROOT = Path(__file__).parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "mfr.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    """Run promtool (Debian's ``prometheus`` package, installed by ``scripts/dev setup``)."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run scripts/dev setup (Debian package prometheus)")
    done = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def exported_series() -> set[str]:
    """Every series name the four services' registries can export."""
    names: set[str] = set()
    registries = [ExtractorMetrics().registry, ListenerMetrics().registry,
                  PublisherMetrics().registry, ArchiveMetrics().registry]
    for registry in registries:
        for metric in registry.collect():
            names.update(metric.name + suffix for suffix in SUFFIXES.get(metric.type, ("",)))
    return names


def alert_rules() -> list[dict[str, Any]]:
    """The alerting rules of alerts.yml."""
    parsed = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in parsed["groups"] for rule in group["rules"]]


def dashboard_queries() -> tuple[list[str], list[str]]:
    """The dashboard's PromQL expressions and its SQL queries."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    targets = [t for p in panels for t in p.get("targets", [])]
    exprs = [t["expr"] for t in targets if "expr" in t]
    return exprs, [t["rawSql"] for t in targets if "rawSql" in t]


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    """``promtool check rules`` accepts alerts.yml and ``promtool test rules`` passes: each alert
    fires on a series that should raise it, with its labels and annotations, and not before."""
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_the_rules_cover_what_operators_must_hear_about() -> None:
    """Lag, a failing mailbox, dead letters, failing subscriptions and a stuck consumer group
    each have an alert, and each alert has a unit test."""
    names = {rule["alert"] for rule in alert_rules()}
    assert {"MfrReplicationLagHigh", "MfrMailboxFailing", "MfrDeadLettersGrowing",
            "MfrSubscriptionsFailing", "MfrPublisherStuck", "MfrExtractorStuck"} <= names
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts.test.yml").read_text()))
    assert tested == names


def test_rules_and_dashboard_query_only_metrics_the_services_export(tmp_path: Path) -> None:
    """Every ``mfr_*`` series in a rule or a dashboard panel exists in a service's registry, and
    every dashboard expression is valid PromQL (promtool parses them as recording rules)."""
    exprs, _ = dashboard_queries()
    used = {name for expr in [*exprs, *(r["expr"] for r in alert_rules())]
            for name in re.findall(r"\bmfr_[a-z_]+", expr)}
    assert used - exported_series() == set()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel{n}", "expr": expr} for n, expr in enumerate(exprs)
    ]}]}
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    assert "SUCCESS" in promtool("check", "rules", "dashboard.yml", cwd=tmp_path)


def test_the_dashboard_shows_what_operators_need() -> None:
    """Per-mailbox lag and states (from the archive's status table), throughput per stage, dead
    letters, throttling and subscription health each have a panel."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    titles = " | ".join(p["title"].lower() for p in panels)
    for wanted in ("per-mailbox lag", "by state", "throughput per stage", "dead letters",
                   "throttling", "subscription"):
        assert wanted in titles, wanted
    _, queries = dashboard_queries()
    assert any("mailbox_status" in q and "lag_ms" in q for q in queries)


def test_compose_runs_prometheus_and_grafana_on_these_files(tmp_path: Path) -> None:
    """Prometheus mounts its config and the rules, Grafana the provisioning and the dashboard;
    each mounted file exists, and the scrape config is valid with every service as a target."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {t.split(":")[0] for job in config["scrape_configs"]
               for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"listener", "extractor", "publisher", "archive"}
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    # The files compose mounts (the ops token secret, the stack's CA) exist only in a stack;
    # promtool checks that they exist, so the same paths point at stand-ins here.
    (tmp_path / "ops-token").write_text("a-token-of-sixteen-chars")
    (tmp_path / "ca.pem").write_bytes(server_files(tmp_path / "tls").ca_file.read_bytes())
    for job in config["scrape_configs"]:
        assert job["authorization"]["credentials_file"] == "/etc/prometheus/ops-token", job
        job["authorization"]["credentials_file"] = str(tmp_path / "ops-token")
        if "tls_config" in job:
            job["tls_config"]["ca_file"] = str(tmp_path / "ca.pem")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml", cwd=tmp_path)
