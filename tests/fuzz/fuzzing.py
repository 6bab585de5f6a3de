"""Fuzzing a live HTTP service from its OpenAPI document with schemathesis: every operation gets
valid and invalid requests (Hypothesis, derandomised so a run in CI is reproducible), sent over
real sockets; any 5xx is a finding."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err

Prepare = Callable[[Any], dict[str, Any]]  # a case -> keyword arguments for case.call
Inspect = Callable[[Any, Any], str | None]  # (case, response) -> a problem, or None


@dataclass
class FuzzReport:
    """What a run sent and what it found."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def fuzz(
    document: dict[str, Any],
    base_url: str,
    *,
    examples: int,
    prepare: Prepare | None = None,
    inspect: Inspect | None = None,
    pinned: dict[str, Any] | None = None,
) -> FuzzReport:
    """Send ``examples`` valid and ``examples`` invalid requests per operation of ``document``
    to ``base_url``; a 5xx (or what ``inspect`` objects to) is a finding. ``pinned`` path
    parameters keep a value in the valid requests (say, a mailbox that exists, so they reach
    past the 404), and are fuzzed like the rest in the invalid ones."""
    schema = schemathesis.openapi.from_dict(document)
    report = FuzzReport()
    with requests.Session() as connections:  # kept alive across cases: the run is faster
        def call(case: Any) -> dict[str, Any]:
            return {"session": connections, **(prepare(case) if prepare else {})}

        _fuzz_all(schema, base_url, examples, call, inspect, pinned, report)
    return report


def _fuzz_all(
    schema: Any,
    base_url: str,
    examples: int,
    prepare: Prepare,
    inspect: Inspect | None,
    pinned: dict[str, Any] | None,
    report: FuzzReport,
) -> None:
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            report.findings.append(f"the document has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            started = time.monotonic()
            fixed = pinned if mode is GenerationMode.POSITIVE else None
            _run(operation, mode, fixed, base_url, examples, prepare, inspect, report)
            report.seconds[f"{operation.label} {mode.value}"] = time.monotonic() - started


def _run(
    operation: Any,
    mode: GenerationMode,
    pinned: dict[str, Any] | None,
    base_url: str,
    examples: int,
    prepare: Prepare,
    inspect: Inspect | None,
    report: FuzzReport,
) -> None:
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in (pinned or {}).items() if k in names} or None

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    def send(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=30, **prepare(case))
        report.requests += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        problem = None
        if response.status_code >= 500:
            problem = f"{response.status_code}: {response.text[:300]}"
        elif inspect is not None:
            problem = inspect(case, response)
        if problem is not None and len(report.findings) < 50:
            report.findings.append(f"{case.method} {case.formatted_path} ({mode.value}) {problem}"
                                   f"\n  reproduce: {case.as_curl_command()}")

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
        send()
