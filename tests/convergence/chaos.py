"""Faults injected while the random user acts: processes killed, the archive and the broker
down, Exchange throttling and losing notifications. One seeded schedule for reproducibility.

A scale-out run (several extractors and publishers in their groups on Kafka) injects membership
changes instead: members join, are killed (their partitions move once the session times out) or
stopped (they hand their partitions over at once), and come back, so partitions move many times
while the user acts."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator import Simulator
from tests.convergence.services import Stack
from tests.kafka.broker import KafkaBroker


@dataclass
class Chaos:
    """Applies faults; ``done`` counts them by kind."""

    sim: Simulator
    stack: Stack
    broker: KafkaBroker | None
    random: random.Random
    # A push subscription that Exchange drops is noticed only after twice StatusFrequency (at
    # least two minutes) of silence: the soak expires those too; the CI run, streaming ones.
    expire_push: bool = False
    graph: bool = False  # the stack is fed through Graph: Graph's faults, not EWS's
    scale_out: bool = False  # membership changes of the extractor and publisher groups
    done: Counter[str] = field(default_factory=Counter)

    def kinds(self) -> dict[str, Callable[[], None]]:
        """Every fault this run can inject."""
        if self.scale_out:
            return self._membership_kinds()
        if self.graph:
            return self._graph_kinds()
        found: dict[str, Callable[[], None]] = {
            "listener killed": lambda: self._bounce("listener", 0.5, 3.0),
            "push listener killed": lambda: self._bounce("push listener", 0.5, 3.0),
            "extractor killed": lambda: self._bounce("extractor", 0.2, 2.0),
            "publisher killed": lambda: self._bounce("publisher", 0.2, 2.0),
            "archive down": lambda: self._bounce("archive", 3.0, 6.0),
            "throttling storm": self._throttling_storm,
            "subscriptions expired" if self.expire_push else "streaming subscriptions expired":
                self._expire_subscriptions,
            "push deliveries lost": lambda: self.sim.faults.lose_push(3),
            "streams dropped": lambda: self.sim.faults.drop_streams(2),
            "stream stalled": lambda: self.sim.faults.stall_streams(1),
            "HTTP 503s": lambda: self.sim.faults.http_error(503, next_n=5),
        }
        if self.broker is not None:
            found["Kafka broker restarted"] = self.broker.restart
        return found

    def _graph_kinds(self) -> dict[str, Callable[[], None]]:
        """Graph's faults (issue 12): notifications lost (Graph notices: ``missed``), delayed and
        reordered, a ``missed`` lifecycle event, a subscription removed, every delta token
        expired, a 429 storm and 503s, and the processes killed as for EWS."""
        graph = self.sim.graph
        found: dict[str, Callable[[], None]] = {
            "listener killed": lambda: self._bounce("listener", 0.5, 3.0),
            "extractor killed": lambda: self._bounce("extractor", 0.2, 2.0),
            "publisher killed": lambda: self._bounce("publisher", 0.2, 2.0),
            "archive down": lambda: self._bounce("archive", 3.0, 6.0),
            "429 storm": self._graph_storm,
            "HTTP 503s": lambda: graph.faults.http_error(503, next_n=5),
            "notifications lost": lambda: graph.faults.drop_notifications(2, missed=True),
            "notifications delayed": lambda: graph.faults.delay_notifications(2, 3.0),
            "notifications reordered": lambda: graph.faults.reorder_notifications(3),
            "missed lifecycle event": lambda: graph.controls["lifecycle"](
                event="missed", ids=self._one_subscription()),
            "subscription removed": lambda: graph.controls["remove_subscriptions"](
                ids=self._one_subscription()),
            "delta tokens expired": lambda: graph.controls["expire_delta_tokens"](smtp=None),
        }
        if self.broker is not None:
            found["Kafka broker restarted"] = self.broker.restart
        return found

    def _membership_kinds(self) -> dict[str, Callable[[], None]]:
        return {
            "extractor joined": lambda: self._join("extractor"),
            "publisher joined": lambda: self._join("publisher"),
            "extractor killed": lambda: self._bounce(self._member("extractor"), 0.5, 2.0),
            "extractor stopped": lambda: self._restart(self._member("extractor"), 0.5, 2.0),
            "publisher killed": lambda: self._bounce(self._member("publisher"), 0.5, 2.0),
            "publisher stopped": lambda: self._restart(self._member("publisher"), 0.5, 2.0),
        }

    def _member(self, kind: str) -> str:
        """A running member of the group, chosen by the seeded random."""
        running = [n for n in self.stack.members(kind) if self.stack.services[n].proc]
        return self.random.choice(running)

    def _join(self, kind: str) -> None:
        for name in self.stack.members(kind):
            if self.stack.services[name].proc is None:
                self.stack.services[name].start()
                return

    def _restart(self, name: str, low_s: float, high_s: float) -> None:
        """SIGTERM: the member leaves the group cleanly (its partitions move at once)."""
        self.stack.services[name].stop()
        time.sleep(self.random.uniform(low_s, high_s))
        self.stack.services[name].start()

    def _one_subscription(self) -> list[str]:
        live = sorted(s["id"] for s in self.sim.graph.controls["subscriptions"]())
        return [self.random.choice(live)] if live else []

    def _graph_storm(self) -> None:
        self.sim.graph.faults.throttle(fraction=0.3, retry_after_s=1)
        time.sleep(self.random.uniform(3.0, 6.0))
        self.sim.graph.faults.throttle(0)

    def schedule(self, rounds: int) -> list[str]:
        """Every kind of fault once per round, each round in a seeded order."""
        planned = []
        if self.scale_out:  # the standby members join first, then the others come and go
            planned = ["extractor joined", "publisher joined"]
        for _ in range(rounds):
            kinds = sorted(k for k in self.kinds() if k not in planned)
            self.random.shuffle(kinds)
            planned += kinds
        return planned

    def apply(self, kind: str) -> None:
        """Inject one fault (returns once it is over, for the ones that last)."""
        self.kinds()[kind]()
        self.done[kind] += 1

    def kill_extractor_mid_initial_sync(self, timeout_s: float = 60.0) -> str:
        """SIGKILL the extractor while a mailbox's initial sync is under way; restart it.
        Returns the progress it was killed at."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name in self.stack.members("extractor"):
                # Not every answer is the per-mailbox map: an extractor still starting (or
                # waiting for Kafka) answers a one-line status, e.g. {"status": "starting"}.
                syncing = {m: s for m, s in self.stack.extractor_status(name).items()
                           if isinstance(s, dict) and s.get("state") == "InitialSync"
                           and s.get("initial_sync_percent")}
                if syncing:
                    mailbox, status = sorted(syncing.items())[0]
                    self._bounce(name, 0.2, 0.5)
                    return f"{mailbox} at {status['initial_sync_percent']}% ({name})"
            time.sleep(0.05)
        raise AssertionError("never saw an initial sync under way")

    def _bounce(self, name: str, low_s: float, high_s: float) -> None:
        service = self.stack.services[name]
        service.kill()
        time.sleep(self.random.uniform(low_s, high_s))
        service.start()

    def _throttling_storm(self) -> None:
        self.sim.faults.throttle(fraction=0.3, back_off_ms=300)
        time.sleep(self.random.uniform(3.0, 6.0))
        self.sim.faults.throttle(0)

    def _expire_subscriptions(self) -> None:
        ids = None if self.expire_push else [
            s["id"] for s in self.sim.control.subscriptions() if s["kind"] == "Streaming"]
        self.sim.control.expire_subscriptions(ids)
