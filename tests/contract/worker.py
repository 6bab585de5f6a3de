"""A separate process that uses the bus and then hangs until it is killed, so tests can prove what
survives a crash. Reaches the bus through MFR_* settings, exactly as a service would.

    python -m tests.contract.worker produce TOPIC COUNT      # produce, flush, print "flushed"
    python -m tests.contract.worker consume TOPIC GROUP N    # poll N records without committing
    python -m tests.contract.worker commit TOPIC GROUP N     # poll N records, commit, print it
"""

from __future__ import annotations

import sys
import time

from mfr.bus import Record, open_bus
from mfr.settings import MfrSettings


def main(argv: list[str]) -> None:
    """Do what argv says, report it on stdout, then wait to be killed."""
    action, topic, *rest = argv
    bus = open_bus(MfrSettings.load().bus)
    if action == "produce":
        producer = bus.producer()
        for i in range(int(rest[0])):
            producer.produce(topic, f"mailbox-{i % 7}@example.com", str(i).encode())
        producer.flush()
        print("flushed", flush=True)
    else:
        group, wanted = rest[0], int(rest[1])
        consumer = bus.consumer(group, [topic])
        got: list[Record] = []
        deadline = time.monotonic() + 60
        while len(got) < wanted and time.monotonic() < deadline:
            got += consumer.poll(max_records=wanted - len(got))
        if action == "commit":
            consumer.commit(got)
        print(f"{action} {len(got)}", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1:])
