"""``[exchange.graph]`` pointed at a TLS simulator: its registered application, its authority,
its Graph root and the CA to trust. One place for every test that reaches the simulator through
``mfr.graph`` (msal accepts only https authorities, so the simulator must serve TLS)."""

from __future__ import annotations

from typing import Any

from mfr.graph import GraphSettings
from simulator import Simulator


def graph_settings(sim: Simulator, **overrides: Any) -> GraphSettings:
    """The simulator's registered application, as ``[exchange.graph]`` would say it."""
    assert sim.ca_file is not None, "mfr.graph needs a TLS simulator"
    values: dict[str, Any] = {
        "tenant_id": sim.graph.auth.tenant_id,
        "client_id": sim.settings.graph.client_id,
        "client_secret": sim.settings.graph.client_secret.get_secret_value(),
        "authority_host": sim.authority_url,
        "graph_url": sim.graph_url,
        "ca_file": sim.ca_file,
        **overrides,
    }
    return GraphSettings.model_validate(values)
