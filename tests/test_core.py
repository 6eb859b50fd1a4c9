"""The shared foundations: caller numbers, settings, categories, names."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.categories import AGENCY_SEEDS, CATEGORIES, CATEGORY_BY_CODE, suggested_agencies
from core.phone import normalise
from core.settings import Settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("081234567890", "+6281234567890"),
        ("+6281298765432", "+6281298765432"),
        ("6281298765432", "+6281298765432"),
        ("0062 812-9876-5432", "+6281298765432"),
        ("81234567890", "+6281234567890"),
        ("(021) 555-1234", "+62215551234"),
        ('"0812 3456 7890"', "+6281234567890"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_indonesian_numbers_become_e164(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "unknown", "Anonymous", "restricted", "  ", "+", "abc", "+12345678901234567"]
)
def test_withheld_unknown_or_junk_numbers_are_none(raw: str | None) -> None:
    assert normalise(raw) is None


def test_short_service_numbers_are_kept_as_they_are() -> None:
    assert normalise("112") == "112"


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_settings_refuse_missing_or_placeholder_secrets() -> None:
    with pytest.raises(ValueError, match="SIAGA_AMI__SECRET"):
        _settings().require_secrets()
    weak = {"secret": SecretStr("changeme")}
    with pytest.raises(ValueError, match="placeholder"):
        _settings(ami=weak, api={"jwt_secret": SecretStr("x" * 32)}).require_secrets()
    with pytest.raises(ValueError, match="at least 16"):
        _settings(
            ami={"secret": SecretStr("short-one")}, api={"jwt_secret": SecretStr("x" * 32)}
        ).require_secrets()
    _settings(
        ami={"secret": SecretStr("a" * 20)}, api={"jwt_secret": SecretStr("b" * 32)}
    ).require_secrets()


def test_settings_secrets_never_show_in_their_repr() -> None:
    settings = _settings(ami={"secret": SecretStr("topsecret-value-123")})
    assert "topsecret-value-123" not in repr(settings)
    assert "topsecret-value-123" not in str(settings.model_dump())


def test_settings_read_nested_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIAGA_ASTERISK__MODE", "host")
    monkeypatch.setenv("SIAGA_ASTERISK__CARRIER_ADDRESSES", '["10.1.2.3", "10.1.2.4"]')
    monkeypatch.setenv("SIAGA_DATABASE_URL", "postgresql://u:p@db/siaga")
    settings = _settings()
    assert settings.asterisk.mode == "host"
    assert settings.asterisk.carrier_addresses == ["10.1.2.3", "10.1.2.4"]
    assert settings.database_url == "postgresql+asyncpg://u:p@db/siaga"


def test_host_paths_follow_the_asterisk_root() -> None:
    chroot = _settings(asterisk={"root": "/srv/ast"})
    assert str(chroot.asterisk_host_path("/var/lib/siaga112/recordings/a.wav")) == (
        "/srv/ast/var/lib/siaga112/recordings/a.wav"
    )
    host = _settings(asterisk={"mode": "host"})
    assert str(host.asterisk_host_path("/var/x.wav")) == "/var/x.wav"


def test_every_suggested_agency_is_a_seeded_agency_and_back() -> None:
    seeded = {a.code for a in AGENCY_SEEDS}
    for category in CATEGORIES:
        assert set(category.agencies) <= seeded, category.code
    for agency in AGENCY_SEEDS:
        assert set(agency.categories) <= set(CATEGORY_BY_CODE), agency.code
    assert suggested_agencies("FIRE") == ("damkar",)
    assert suggested_agencies("INFORMATION") == ()
    assert suggested_agencies("NO-SUCH") == ()
    assert suggested_agencies(None) == ()
