"""Kafka over SASL_SSL with SCRAM-SHA-512, against the run's broker: the right credentials and CA
work (the bus contract suite runs over them too); a wrong password or a CA that did not sign the
broker's certificate is refused at once, naming the cause, and is not retried as an outage."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from mfr.bus.kafka import KafkaBus
from mfr.certs import server_files
from mfr.errors import BusError, BusUnavailableError, ConfigError
from mfr.settings import BusSettings, KafkaSecurity, MfrSettings
from mfr.topics import Topic, TopicSpec
from tests.kafka.broker import SecureListener

pytestmark = pytest.mark.kafka


def _settings(listener: SecureListener, **changes: object) -> BusSettings:
    values: dict[str, object] = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": listener.mechanism,
        "sasl_plain_username": listener.username,
        "sasl_plain_password": SecretStr(listener.password),
        "ssl_cafile": listener.ca_file,
    }
    values.update(changes)
    return BusSettings(
        kafka_bootstrap_servers=listener.bootstrap,
        kafka_security=KafkaSecurity.model_validate(values),
    )


def _ensure(settings: BusSettings) -> None:
    # kafka-python gives up bootstrapping after 30 s by default; a refusal is certain sooner.
    with KafkaBus(settings, bootstrap_timeout_ms=4_000) as bus:
        bus.ensure_topics([TopicSpec(Topic.CHANGES, "secure-probe", None, 1, {})])


def test_the_right_user_and_ca_get_in(kafka_sasl_ssl: SecureListener) -> None:
    _ensure(_settings(kafka_sasl_ssl))


def test_a_wrong_password_is_refused_naming_the_login(kafka_sasl_ssl: SecureListener) -> None:
    settings = _settings(kafka_sasl_ssl, sasl_plain_password=SecretStr("not-the-password"))
    with pytest.raises(BusError) as caught:
        _ensure(settings)
    assert not isinstance(caught.value, BusUnavailableError), "a wrong password is no outage"
    message = str(caught.value)
    assert "SCRAM-SHA-512 login of user 'mfr'" in message
    assert "not-the-password" not in message
    assert kafka_sasl_ssl.password not in message


def test_an_untrusted_certificate_is_refused(
    kafka_sasl_ssl: SecureListener, tmp_path: Path
) -> None:
    stranger = server_files(tmp_path / "other-ca").ca_file
    with pytest.raises(BusError) as caught:
        _ensure(_settings(kafka_sasl_ssl, ssl_cafile=stranger))
    assert not isinstance(caught.value, BusUnavailableError)
    assert "certificate is not trusted by" in str(caught.value)
    assert "unable to get local issuer certificate" in str(caught.value)


def test_incomplete_security_settings_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs sasl_plain_username and the password"):
        KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512")
    with pytest.raises(ValueError, match="needs sasl_mechanism"):
        KafkaSecurity(security_protocol="SASL_SSL")
    with pytest.raises(ValueError, match="does not point to a file"):
        KafkaSecurity(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")


def test_the_kafka_password_is_refused_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "mfr.toml"
    config.write_text('[bus.kafka_security]\nsasl_plain_password = "hunter2"\n')
    with pytest.raises(ConfigError) as caught:
        MfrSettings.load(config)
    assert "MFR_BUS__KAFKA_SECURITY__SASL_PLAIN_PASSWORD" in str(caught.value)
    assert "hunter2" not in str(caught.value)
