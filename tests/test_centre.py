"""The run command's own pieces: generated secrets and settings handed to child processes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import CallTaker, Settings
from ops.centre import GENERATED, SECRETS_FILE, load_or_create_secrets, settings_env


def test_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path)
    second = load_or_create_secrets(tmp_path)

    assert first == second
    assert set(GENERATED) <= set(first)
    assert all(len(v) >= 16 for v in first.values())
    mode = stat.S_IMODE((tmp_path / SECRETS_FILE).stat().st_mode)
    assert mode == 0o600


def test_a_secret_given_in_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIAGA_AMI__SECRET", "given-by-the-operator-123")
    assert load_or_create_secrets(tmp_path)["SIAGA_AMI__SECRET"] == "given-by-the-operator-123"


def test_a_child_process_rebuilds_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://u:p@127.0.0.1:5999/siaga",
        ami={"secret": "a-secret-of-good-length", "port": 15038},
        asterisk={
            "instance_dir": "/tmp/x",
            "carrier_addresses": ["127.0.0.2", "192.0.2.0/24"],
            "calltakers": [
                CallTaker(account="ct1", contact="sip:ct1@127.0.0.1:5070"),
                CallTaker(account="ct2", password=SecretStr("sip-password-long")),
            ],
        },
    )
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)

    rebuilt = Settings()

    assert rebuilt.model_dump() == settings.model_dump()
    assert rebuilt.ami.secret is not None
    assert rebuilt.ami.secret.get_secret_value() == "a-secret-of-good-length"
    assert rebuilt.asterisk.calltakers[1].password == SecretStr("sip-password-long")
