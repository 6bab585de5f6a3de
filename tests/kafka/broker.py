"""A real single-node Apache Kafka broker (KRaft) for the integration tests, with nothing installed
by hand: Maven fetches the broker's jars from Maven Central (cached in ``~/.m2`` and in
``MFR_KAFKA_CACHE``, default ``~/.cache/mfr``), the broker runs on free loopback ports from a
temporary directory, and ``stop`` ends it. ``python -m tests.kafka.broker`` runs one by hand.

Beside its plaintext listener, a broker can open a SASL_SSL one (``secure=True``), as production
clusters do: TLS with a certificate from a CA made for the run (``cryptography``, through the
``mfr.certs``), and SCRAM-SHA-512 users added when the storage is formatted (KRaft
keeps SCRAM credentials in its metadata log, so no ZooKeeper step is needed). The broker talks to
itself over the plaintext listener, so the secure one carries client traffic only.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from mfr.certs import keystore_file, server_files

POM = Path(__file__).with_name("pom.xml")
KAFKA_VERSION = "4.1.1"
START_TIMEOUT_S = 90.0

_LOG4J = """\
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
"""


class BrokerError(RuntimeError):
    """The test broker could not be fetched or started."""


def cache_dir() -> Path:
    """Where the broker's jars are kept between runs."""
    root = os.environ.get("MFR_KAFKA_CACHE") or Path.home() / ".cache" / "mfr"
    return Path(root) / f"kafka-{KAFKA_VERSION}"


def ensure_jars() -> Path:
    """The directory of the broker's classpath, fetched with Maven if not cached yet."""
    libs = cache_dir() / "libs"
    done = cache_dir() / "complete"
    if done.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not installed; it fetches Kafka's jars for the tests")
    shutil.rmtree(libs, ignore_errors=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={libs}",
         "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False, timeout=900,
    )
    if result.returncode != 0:
        raise BrokerError(f"mvn could not fetch Kafka {KAFKA_VERSION}:\n{result.stdout[-3000:]}")
    done.write_text(KAFKA_VERSION)
    return libs


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class SecureListener:
    """How a client reaches a broker's SASL_SSL listener: address, the CA to trust, a SCRAM user."""

    bootstrap: str
    ca_file: Path
    username: str
    password: str
    mechanism: str = "SCRAM-SHA-512"


class KafkaBroker:
    """One KRaft broker+controller on loopback, in ``workdir``; restartable on the same ports."""

    def __init__(self, workdir: Path, *, secure: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.controller_port = free_port()
        self.secure: SecureListener | None = None
        if secure:
            self.secure = SecureListener(
                bootstrap=f"127.0.0.1:{free_port()}",
                ca_file=workdir / "tls" / "ca.pem",
                username="mfr",
                password=uuid.uuid4().hex,
            )
        self._process: subprocess.Popen[bytes] | None = None
        self._formatted = False

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        """Where the broker's output goes."""
        return self.workdir / "broker.log"

    def start(self) -> None:
        """Start the broker (formatting its storage the first time) and wait until it serves."""
        libs = ensure_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        properties = self._write_config()
        classpath = f"{libs}/*"
        if not self._formatted:
            self._format(classpath, properties)
        java = shutil.which("java")
        if java is None:
            raise BrokerError("Java is not installed; the Kafka broker needs Java 17+")
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [java, "-Xms256m", "-Xmx768m", "-XX:+UseSerialGC",
                 f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
                 "-cp", classpath, "kafka.Kafka", str(properties)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_until_serving()

    def _write_config(self) -> Path:
        properties = self.workdir / "server.properties"
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        if self.secure is not None:
            listeners.append(f"SASL_SSL://{self.secure.bootstrap}")
            protocols += ",SASL_SSL:SASL_SSL"
        properties.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners={','.join(listeners)},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners={','.join(listeners)}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map={protocols}",
            "inter.broker.listener.name=PLAINTEXT",
            *self._secure_config(),
            f"log.dirs={self.workdir / 'data'}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "group.initial.rebalance.delay.ms=0",
            "num.partitions=1",
            "auto.create.topics.enable=true",
            "",
        ]))
        (self.workdir / "log4j2.properties").write_text(_LOG4J)
        return properties

    def _secure_config(self) -> list[str]:
        if self.secure is None:
            return []
        keystore = keystore_file(server_files(self.secure.ca_file.parent))
        return [
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={keystore}",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ]

    def _format(self, classpath: str, properties: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        users = []
        if self.secure is not None:
            user = f"name={self.secure.username},password={self.secure.password}"
            users = ["--add-scram", f"SCRAM-SHA-512=[{user}]"]
        result = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={cluster_id}", "-c", str(properties), *users],
            capture_output=True, text=True, check=False, timeout=120,
        )
        if result.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed:\n{result.stdout}{result.stderr}")
        self._formatted = True

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerError(f"the broker exited at start:\n{self._log_tail()}")
            if "Kafka Server started" in self.log_file.read_text(errors="replace"):
                return
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"the broker did not start in {START_TIMEOUT_S}s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM), or kill it if it does not stop in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again with the same data and ports."""
        self.stop()
        with self.log_file.open("a") as log:
            log.write("\n--- restart ---\n")
        self._truncate_started_marker()
        self.start()

    def _truncate_started_marker(self) -> None:
        # The readiness check looks for the start-up line; keep old runs' lines out of its way.
        old = self.log_file.read_text(errors="replace").replace("Kafka Server started", "(started)")
        self.log_file.write_text(old)


def main() -> None:
    """Run a broker in the foreground until interrupted, for trying things by hand."""
    import tempfile  # noqa: PLC0415

    broker = KafkaBroker(Path(tempfile.mkdtemp(prefix="mfr-kafka-")))
    broker.start()
    print(f"Kafka {KAFKA_VERSION} is up: export MFR_TEST_KAFKA={broker.bootstrap}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        broker.stop()


if __name__ == "__main__":
    main()
