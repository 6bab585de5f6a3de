"""The Graph face's plumbing: authentication, users, unknown paths, the request log."""

from __future__ import annotations

import httpx

from simulator import Simulator
from simulator.graph.ids import user_id


def test_users_are_found_by_id_and_principal_name(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    by_name = graph.get(f"/users/{smtp}").json()
    assert by_name["userPrincipalName"] == smtp
    by_id = graph.get(f"/users/{user_id(smtp)}").json()
    assert by_id["id"] == by_name["id"] == user_id(smtp)
    entry = sim.request_log.entries(operation="graph.user.get", mailbox=smtp)[-1]
    assert entry.status == 200
    assert entry.account == sim.settings.graph.client_id


def test_no_token_unknown_user_and_me_are_refused(sim: Simulator, graph: httpx.Client) -> None:
    anonymous = httpx.get(f"{sim.graph_url}/users/nobody@sim.example")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    unknown = graph.get("/users/nobody@sim.example")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "ErrorInvalidUser"
    me = graph.get("/me/messages")
    assert me.status_code == 400
