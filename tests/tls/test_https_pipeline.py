"""HTTPS on every HTTP hop of the pipeline, against the simulator: ``mfr run`` with every server
on TLS and Exchange on TLS behind a CA of its own; push notifications delivered to the listener
over HTTPS; exchangelib trusting ``[exchange] ca_file``, and failing clearly without it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.settings import ArchiveSettings
from archive.store.tables import messages
from extractor.settings import ExtractorSection
from listener.app import create_app
from listener.service import Listener
from listener.settings import ListenerSection, ListenerSettings, PushSection
from mfr.bus import open_bus
from mfr.certs import server_files
from mfr.codec import Codec
from mfr.ews import EwsConnection, ExchangeSettings, RetryPolicy
from mfr.ews.errors import EwsUnavailableError
from mfr.settings import BusSettings, OpsAccess, ServerTls
from mfr.topics import Topic, topic_name
from pipeline.archive_side import open_archive
from pipeline.run import SingleMachine
from pipeline.servers import BackgroundServer
from pipeline.settings import RunSettings
from publisher.settings import PublisherSettings
from simulator import Simulator, SimulatorSection
from tests.kafka.broker import free_port
from tests.tls.conftest import Pki, refused, trusting

SERVICE, PASSWORD = "svc-tls@sim.example", "tls-service-pw"


@pytest.fixture
def tls_sim(tmp_path: Path, pki: Pki) -> Iterator[Simulator]:
    """A simulator serving EWS over HTTPS (its own CA), delivering push to our CA's servers."""
    settings = SimulatorSection(port=0, tls=True, tls_dir=tmp_path / "sim-ca", keepalive_s=0.5,
                                poll_s=0.05, push_ca_file=pki.ours.ca_file)
    with Simulator(settings) as simulator:
        simulator.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        yield simulator


def _exchange(sim: Simulator, ca_file: Path | None) -> ExchangeSettings:
    return ExchangeSettings(
        endpoint=sim.endpoint_url,  # type: ignore[arg-type]
        auth="basic", service_account=SERVICE, password=PASSWORD,  # type: ignore[arg-type]
        version="Exchange2016", ca_file=ca_file,
    )


def _wait(condition: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not in {timeout_s}s: {what}"
        time.sleep(0.2)


def test_mfr_run_over_https_end_to_end(tls_sim: Simulator, pki: Pki, tmp_path: Path) -> None:
    """Every server of ``mfr run`` on HTTPS, Exchange's certificate trusted through ca_file:
    a mailbox reaches the archive (the in-process publisher trusting exactly the archive's
    certificate, which names only its public host), each port answers a client trusting its CA
    and refuses one that does not."""
    mailbox = "tess@sim.example"
    tls_sim.control.create_mailbox(mailbox)
    tls_sim.control.create_item(mailbox, subject="over TLS")
    tls_sim.control.create_item(mailbox, subject="also over TLS")
    public = server_files(tmp_path / "archive-ca", hosts=("archive.example.test",))
    ours = ServerTls(cert_file=pki.ours.cert_file, key_file=pki.ours.key_file)
    ports = {name: free_port() for name in ("archive", "listener", "extractor", "publisher")}
    settings = RunSettings(
        bus=BusSettings(embedded_path=tmp_path / "bus.sqlite3", session_timeout_s=2.0),
        exchange=_exchange(tls_sim, tls_sim.ca_file),
        listener=ListenerSection(mailboxes=[mailbox], port=ports["listener"], tls=ours),
        extractor=ExtractorSection(state_path=tmp_path / "extractor.sqlite3", coalesce_s=0.2,
                                   port=ports["extractor"], tls=ours),
        publisher=PublisherSettings(linger_ms=50, health_port=ports["publisher"], tls=ours),
        archive=ArchiveSettings(
            database_url=f"sqlite:///{tmp_path / 'archive.sqlite3'}",  # type: ignore[arg-type]
            audit_log=tmp_path / "audit.jsonl", port=ports["archive"],
            tls=ServerTls(cert_file=public.cert_file, key_file=public.key_file),
        ),
    )
    machine = SingleMachine(settings)
    try:
        machine.start()
        assert machine.archive_url.startswith("https://")
        engine = open_archive(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
        with engine.connect() as conn:
            _wait(lambda: conn.execute(select(func.count()).select_from(messages)).scalar_one()
                  == 2, "both messages in the archive")
        engine.dispose()
        for name, port in ports.items():
            url = f"https://127.0.0.1:{port}/healthz"
            if name != "archive":  # its certificate names archive.example.test, not loopback
                with trusting(pki.ours.ca_file) as client:
                    assert client.get(url).status_code == 200, name
            assert "CERTIFICATE_VERIFY_FAILED" in refused(url, pki.stranger_ca), name
        with trusting(pki.ours.ca_file) as client:  # the publisher's metrics, over HTTPS
            metrics = client.get(f"https://127.0.0.1:{ports['publisher']}/metrics").text
        acknowledged = next(line for line in metrics.splitlines()
                            if line.startswith("mfr_publisher_acknowledged_records_total "))
        assert float(acknowledged.split()[1]) >= 2  # the messages, the folders, the status
    finally:
        machine.stop()


def test_push_notifications_reach_the_listener_over_https(
    tls_sim: Simulator, pki: Pki, tmp_path: Path
) -> None:
    """The listener serves its push endpoint over HTTPS; the simulator (trusting our CA)
    delivers SendNotification there, and the new item's event is on the bus."""
    mailbox = "pia@sim.example"
    tls_sim.control.create_mailbox(mailbox)
    port = free_port()
    settings = ListenerSettings(
        bus=BusSettings(embedded_path=tmp_path / "bus.sqlite3"),
        exchange=_exchange(tls_sim, tls_sim.ca_file),
        listener=ListenerSection(
            mode="push", mailboxes=[mailbox], port=port, resubscribe_after_s=0.5,
            push=PushSection(callback_base_url=f"https://127.0.0.1:{port}/push",  # type: ignore[arg-type]
                             status_frequency_min=1, check_every_s=0.1),
            tls=ServerTls(cert_file=pki.ours.cert_file, key_file=pki.ours.key_file),
        ),
    )
    bus = open_bus(settings.bus)
    listener = Listener(settings, bus, EwsConnection(settings.exchange), Codec())
    server = BackgroundServer(create_app(listener), "127.0.0.1", port, "listener",
                              tls=settings.listener.tls, ops=OpsAccess())
    consumer = bus.consumer("tls-test", [topic_name(settings.bus, Topic.CHANGES)])
    try:
        server.start()
        listener.start()
        _wait(listener.ready.is_set, "subscribed")
        item_id = tls_sim.control.create_item(mailbox, subject="pushed over TLS")
        codec, seen = Codec(), []

        def arrived() -> bool:
            for record in consumer.poll(max_records=100, timeout_s=0.2):
                seen.append(codec.decode(record.value, "mfr.replication.ChangeEvent").datum)
            return any(e["id"] == item_id and e["source"] == "Push" for e in seen)

        _wait(arrived, "the pushed event on the bus", 30)
        # The simulator records a delivery once the listener has answered it, which can be
        # after the event reached the bus.
        _wait(lambda: "OK" in [d.outcome for d in tls_sim.push.deliveries],
              "the delivery recorded as OK")
        assert "failed" not in [d.outcome for d in tls_sim.push.deliveries]
        assert "CERTIFICATE_VERIFY_FAILED" in refused(
            f"https://127.0.0.1:{port}/push/x", pki.stranger_ca
        )
        # Stopping does not wait for the simulator's idle kept-alive TLS connection (asyncio
        # would give its close_notify 30 s).
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
    finally:
        consumer.close()
        listener.stop()
        server.stop()
        bus.close()


def test_exchangelib_needs_the_ca_file_for_an_internal_ca(tmp_path: Path) -> None:
    """exchangelib reaches Exchange (the TLS simulator) with [exchange] ca_file; without it the
    failure says the certificate is not trusted and which setting fixes it."""
    for ca_given in (False, True):  # each against a simulator (an origin) of its own
        with Simulator(SimulatorSection(port=0, tls=True, tls_dir=tmp_path / "ca")) as sim:
            sim.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
            sim.control.create_mailbox("ada@sim.example")
            connection = EwsConnection(
                _exchange(sim, sim.ca_file if ca_given else None),
                policy=RetryPolicy(attempts=2, first_wait_s=0.05, max_wait_s=0.1),
            )

            def folders(ews: EwsConnection = connection) -> list[str]:
                account = ews.account("ada@sim.example")
                return ews.call("ada@sim.example", "listing folders",
                                lambda: sorted(f.name for f in account.msg_folder_root.children))

            if ca_given:
                assert "Inbox" in folders()
                connection.account("ada@sim.example").protocol.close()  # the sim stops at once
            else:
                with pytest.raises(EwsUnavailableError) as failure:
                    folders()
                assert failure.value.code == "CertificateNotTrusted"
                assert "certificate is not trusted (unable to get local issuer certificate)" in (
                    str(failure.value))
                assert "[exchange] ca_file" in str(failure.value)
