"""JSON batching over real HTTP: answers per request, limits, dependsOn, per-request throttling
and logging, and at most four requests at a time."""

from __future__ import annotations

import time
from typing import Any

import httpx

from simulator import Simulator
from simulator.graph.ids import to_graph


def batch(graph: httpx.Client, requests: list[dict[str, Any]]) -> httpx.Response:
    return graph.post("/$batch", json={"requests": requests})


def by_id(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {r["id"]: r for r in response.json()["responses"]}


def test_batch_answers_each_request(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    made = sim.control.create_item(smtp, "inbox", subject="batched")
    answers = by_id(
        batch(
            graph,
            [
                {"id": "1", "method": "GET", "url": f"/users/{smtp}/mailFolders"},
                {
                    "id": "2",
                    "method": "GET",
                    "url": f"users/{smtp}/messages/{to_graph(made)}?$select=subject",
                },
                {
                    "id": "3",
                    "method": "GET",
                    "url": f"/users/{smtp}/messages/{to_graph(made)}",
                    "headers": {"Prefer": 'IdType="ImmutableId"'},
                },
                {"id": "4", "method": "GET", "url": "/users/nobody@sim.example"},
            ],
        )
    )
    assert [answers[i]["status"] for i in "1234"] == [200, 200, 200, 404]
    assert len(answers["1"]["body"]["value"]) == 8
    assert answers["1"]["headers"]["Content-Type"].startswith("application/json")
    assert answers["2"]["body"]["subject"] == "batched"
    assert answers["3"]["body"]["id"] == sim.graph.message_ids(smtp, made)["immutableId"]
    assert answers["4"]["body"]["error"]["code"] == "ErrorInvalidUser"
    # each request was logged on its own (in whatever order they finished)
    logged = [e.operation for e in sim.request_log.entries(mailbox=smtp)][-3:]
    assert sorted(logged) == ["graph.mailFolder.list", "graph.message.get", "graph.message.get"]


def test_malformed_batches_are_400(smtp: str, graph: httpx.Client) -> None:
    one: dict[str, Any] = {"method": "GET", "url": f"/users/{smtp}"}
    cases: list[list[dict[str, Any]]] = [
        [{"id": str(n), **one} for n in range(21)],
        [{"id": "a", **one}, {"id": "A", **one}],
        [{"id": "1", **one, "dependsOn": ["9"]}],
        [{"id": "1", **one, "dependsOn": ["2"]}, {"id": "2", **one, "dependsOn": ["1"]}],
        [
            {
                "id": "1",
                "method": "POST",
                "url": "/$batch",
                "body": {},
                "headers": {"Content-Type": "application/json"},
            }
        ],
        [{"id": "1", "method": "POST", "url": f"/users/{smtp}", "body": {"a": 1}}],
        [{"id": "1", "method": "GET", "url": f"https://graph.microsoft.com/v1.0/users/{smtp}"}],
        [{"id": "1", "method": "GET"}],
    ]
    for requests in cases:
        response = batch(graph, requests)
        assert response.status_code == 400, requests
        assert response.json()["error"]["code"] == "BadRequest"
    assert graph.post("/$batch", json={"requests": []}).status_code == 400
    full = by_id(batch(graph, [{"id": str(n), **one} for n in range(20)]))
    assert len(full) == 20
    assert {r["status"] for r in full.values()} == {200}


def test_a_failed_dependency_is_424(smtp: str, graph: httpx.Client) -> None:
    answers = by_id(
        batch(
            graph,
            [
                {"id": "1", "method": "GET", "url": f"/users/{smtp}/mailFolders/nowhere"},
                {"id": "2", "method": "GET", "url": f"/users/{smtp}", "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": f"/users/{smtp}", "dependsOn": ["2"]},
                {"id": "4", "method": "GET", "url": f"/users/{smtp}/mailFolders/inbox"},
                {"id": "5", "method": "GET", "url": f"/users/{smtp}", "dependsOn": ["4"]},
            ],
        )
    )
    assert [answers[i]["status"] for i in "12345"] == [400, 424, 424, 200, 200]
    assert answers["2"]["body"]["error"]["code"] == "FailedDependency"


def test_a_throttled_request_is_429_inside_the_batch(
    sim: Simulator, smtp: str, graph: httpx.Client
) -> None:
    sim.graph.faults.throttle(next_n=1, retry_after_s=7, operations=["graph.mailFolder.get"])
    answers = by_id(
        batch(
            graph,
            [
                {"id": "1", "method": "GET", "url": f"/users/{smtp}"},
                {"id": "2", "method": "GET", "url": f"/users/{smtp}/mailFolders/inbox"},
                {
                    "id": "3",
                    "method": "GET",
                    "url": f"/users/{smtp}/mailFolders",
                    "dependsOn": ["2"],
                },
            ],
        )
    )
    assert [answers[i]["status"] for i in "123"] == [200, 429, 424]
    assert answers["2"]["headers"]["Retry-After"] == "7"
    assert answers["2"]["body"]["error"]["code"] == "ApplicationThrottled"
    entry = sim.request_log.entries(operation="graph.mailFolder.get", mailbox=smtp)[-1]
    assert entry.status == 429


def test_at_most_four_run_at_once(sim: Simulator, smtp: str, graph: httpx.Client) -> None:
    # eight requests on one mailbox, each 0.3 s (the batch itself too): the per-mailbox
    # concurrency limit (4) would throttle a fifth running at once; four at a time take two
    # rounds (0.9 s in all), all at once one (0.6 s), one by one eight (2.7 s)
    sim.graph.faults.latency(0.3)
    try:
        started = time.monotonic()
        answers = by_id(
            batch(
                graph, [{"id": str(n), "method": "GET", "url": f"/users/{smtp}"} for n in range(8)]
            )
        )
        elapsed = time.monotonic() - started
    finally:
        sim.graph.faults.latency(0)
    assert {r["status"] for r in answers.values()} == {200}
    assert 0.85 < elapsed < 2.2
