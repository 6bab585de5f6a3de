"""Settings: file, environment, and loud failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfr.errors import ConfigError
from mfr.settings import MfrSettings


def test_defaults_run_on_the_embedded_bus() -> None:
    """Without Kafka bootstrap servers, the bus is the embedded one."""
    settings = MfrSettings.load()
    assert not settings.bus.uses_kafka
    assert settings.bus.embedded_path == Path("var/bus.sqlite3")


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value in MFR_* wins over the same value in the config file."""
    config = tmp_path / "mfr.toml"
    config.write_text('[bus]\nkafka_bootstrap_servers = "file:9092"\npartitions = 6\n')
    monkeypatch.setenv("MFR_BUS__KAFKA_BOOTSTRAP_SERVERS", "env:9092")
    settings = MfrSettings.load(config)
    assert settings.bus.kafka_bootstrap_servers == "env:9092"
    assert settings.bus.partitions == 6


def test_a_misspelt_key_fails_loudly(tmp_path: Path) -> None:
    """An unknown key is an error naming it, not a silently ignored setting."""
    config = tmp_path / "mfr.toml"
    config.write_text("[bus]\npartitons = 6\n")
    with pytest.raises(ConfigError, match=r"bus\.partitons: Extra inputs are not permitted"):
        MfrSettings.load(config)


def test_an_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value of the wrong kind says which setting and why."""
    monkeypatch.setenv("MFR_BUS__PARTITIONS", "zero")
    with pytest.raises(ConfigError, match=r"bus\.partitions"):
        MfrSettings.load()


def test_broken_toml_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    """A config file that cannot be read or parsed stops start-up with a clear message."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[bus\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        MfrSettings.load(broken)
    with pytest.raises(ConfigError, match="cannot read config file"):
        MfrSettings.load(tmp_path / "absent.toml")


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Kafka password never appears in the settings' text form."""
    monkeypatch.setenv("MFR_BUS__KAFKA_SECURITY__SASL_PLAIN_PASSWORD", "hunter2")
    settings = MfrSettings.load()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("section", "variable"),
    [
        ('[exchange]\npassword = "hunter2"', "MFR_EXCHANGE__PASSWORD"),
        ('[exchange.graph]\nclient_secret = "hunter2"', "MFR_EXCHANGE__GRAPH__CLIENT_SECRET"),
        ('[publisher]\ningest_token = "hunter2"', "MFR_PUBLISHER__INGEST_TOKEN"),
        ('[extractor.drift]\narchive_token = "hunter2"', "MFR_EXTRACTOR__DRIFT__ARCHIVE_TOKEN"),
    ],
)
def test_a_secret_in_the_file_is_refused_naming_its_variable(
    tmp_path: Path, section: str, variable: str
) -> None:
    """Secrets come from the environment only: a file holding one is refused, without echoing
    the secret, and the error names the variable to use instead."""
    config = tmp_path / "mfr.toml"
    config.write_text(section + "\n")
    with pytest.raises(ConfigError, match=variable) as refused:
        MfrSettings.load(config)
    assert "hunter2" not in str(refused.value)
