"""What every service's Prometheus metrics share: a registry without ``_created`` series, and a
gauge of mailboxes per replication state read at scrape time.

prometheus_client adds a ``<name>_created`` series (the metric's creation time) to every counter
and histogram; Prometheus stores each as a series of its own that no dashboard or alert reads,
so they only cost storage. The switch is process-wide in prometheus_client and must be thrown
before a metric exists, hence ``new_registry`` throws it.

A mailbox's state is counted when Prometheus scrapes, from the service's own table of states, so
the gauge cannot drift from ``/status``: every state is reported, 0 included, which lets an alert
say ``mfr_listener_mailboxes{state="failing"} > 0``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


def new_registry() -> CollectorRegistry:
    """A registry for one service instance; no ``_created`` series in this process."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    return CollectorRegistry()


class StateGauge(Collector):
    """``<name>{state}``: how many mailboxes are in each state, counted at scrape time."""

    def __init__(self, name: str, documentation: str, states: Iterable[str],
                 current: Callable[[], Iterable[str]]) -> None:
        self._name = name
        self._documentation = documentation
        self._states = [s.lower() for s in states]
        self._current = current

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per state."""
        counted = Counter(state.lower() for state in self._current())
        family = GaugeMetricFamily(self._name, self._documentation, labels=["state"])
        for state in dict.fromkeys(self._states + sorted(counted)):
            family.add_metric([state], counted.get(state, 0))
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """No samples at registration (they are read from the service)."""
        return iter(())
