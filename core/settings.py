"""All settings in one place, from the environment (prefix ``SIAGA_``, nested with ``__``).

Example: ``SIAGA_DATABASE_URL``, ``SIAGA_ASTERISK__MODE=host``, ``SIAGA_AMI__SECRET``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "secret", "password", "placeholder"}


def _check_secret(value: SecretStr | None, name: str) -> None:
    if value is None or value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} is missing or a placeholder: set a real secret")
    if len(value.get_secret_value()) < 16:
        raise ValueError(f"{name} must be at least 16 characters")


class CallTaker(BaseModel):
    """A call taker's SIP account. ``contact`` pins a static address (no REGISTER needed)."""

    account: str
    password: SecretStr | None = None
    contact: str | None = None


class AsteriskSettings(BaseModel):
    # chroot: Debian's asterisk in a debootstrap'ed root this project builds; host: an installed one
    mode: Literal["chroot", "host"] = "chroot"
    root: Path = Path("/var/cache/siaga112/asterisk-root")
    # Folder (as Asterisk sees it) holding this instance's etc/, run/, spool/, log/, recordings/
    instance_dir: str = "/var/lib/siaga112/asterisk"
    sip_bind: str = "127.0.0.1"
    sip_port: int = 5060
    carrier_addresses: list[str] = Field(default_factory=lambda: ["127.0.0.2"])
    carrier_contact: str | None = None  # where callbacks go: sip:host:port of the carrier
    dialled_numbers: list[str] = Field(default_factory=lambda: ["112"])
    queue: str = "calltakers"
    calltakers: list[CallTaker] = Field(
        default_factory=lambda: [
            CallTaker(account="ct1", contact="sip:ct1@127.0.0.1:5070"),
            CallTaker(account="ct2", contact="sip:ct2@127.0.0.1:5071"),
        ]
    )
    language: str = "id"
    # Hard bound on the FastAGI step, seconds: after it the dialplan goes on with its defaults.
    agi_bound_seconds: int = 2
    # How often the gateway reads Asterisk's CDR and queue log for calls it missed; 0: only once,
    # at its start.
    reconcile_seconds: float = 10.0
    rtp_start: int = 10000
    rtp_end: int = 10999


class AmiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "siaga112"
    secret: SecretStr | None = None
    reconnect_max_seconds: float = 10.0


class FastAgiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 4573
    # Bound on the database work inside one AGI session; past it the call goes on with defaults.
    db_bound_seconds: float = 0.5


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8112
    jwt_secret: SecretStr | None = None
    token_minutes: int = 12 * 60
    cors_origins: list[str] = Field(default_factory=list)


class WebhookSettings(BaseModel):
    # Targets must resolve to these networks or host names; private and loopback addresses are
    # refused unless listed here.
    allowlist: list[str] = Field(default_factory=list)
    timeout_seconds: float = 10.0
    max_age_hours: float = 24.0
    # Delivery workers inside the gateway process; 0 when delivery runs in a process of its own
    # (``python -m gateway.delivery``, one worker; ``scripts/run`` starts it, the gateway gets 0).
    workers: int = 1
    # Pause before each retry, by retry number (the last one repeats until max_age_hours): at once,
    # ~5 s, 5 min, 30 min, 2 h, 5 h, 10 h. Each pause is spread by +/- ``jitter`` (a fraction).
    retry_delays_seconds: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]
    )
    jitter: float = 0.2
    # After a rotation the previous signing secret stays valid (and is still signed with) this long.
    secret_overlap_hours: float = 24.0
    batch_size: int = 200  # messages one worker claims at once
    concurrency: int = 100  # requests one worker keeps in flight
    poll_seconds: float = 1.0  # longest sleep between claims when no NOTIFY wakes the worker
    response_body_max: int = 2048  # bytes of a receiver's answer kept in the delivery log


class DispatchSettings(BaseModel):
    """Handing tickets to agencies, whether by webhook or through the agency view."""

    # A dispatch the agency has not acknowledged this long after it was sent goes on the
    # supervisor's "needs attention" list (phone the agency). Two minutes: twice the 60 s that
    # NFPA 1225 allows from answer to first unit dispatched, and before the third webhook try,
    # which comes 5 min after the second.
    ack_overdue_seconds: int = Field(default=120, ge=1)


class UiSettings(BaseModel):
    """The browser consoles. Map tiles come from ``tile_url``; without them markers still show."""

    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    map_latitude: float = -3.3946  # where the map opens: the regency's seat
    map_longitude: float = 104.8322
    map_zoom: int = 12


class AmlSettings(BaseModel):
    """Receiving Advanced Mobile Location (docs/aml.md). Off while ``token`` is unset."""

    # The shared secret AML senders (the operators' HTTPS endpoints, their SMS gateway) present as
    # ``Authorization: Bearer <token>``. Unset: the AML endpoints answer 404 ``aml-off``.
    token: SecretStr | None = None
    # A position goes to the newest ticket of its number whose call arrived at most
    # ``early_seconds`` after the position came (phones send AML as they dial, often before the
    # call reaches the centre) and at most ``late_seconds`` before it (they send it again later).
    early_seconds: int = Field(default=120, ge=0)
    late_seconds: int = Field(default=3600, ge=1)
    # How often the API looks for the tickets of positions that came before them.
    match_every_seconds: float = Field(default=5.0, gt=0)

    @field_validator("token")
    @classmethod
    def _real_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # an empty variable leaves AML off
        _check_secret(value, "SIAGA_AML__TOKEN")
        return value

    @property
    def enabled(self) -> bool:
        return self.token is not None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SIAGA_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str | None = None  # postgresql+asyncpg://...; None: the embedded local server
    state_dir: Path = Path("/var/lib/siaga112")  # host folder for generated secrets, spool, pg data
    timezone: str = "Asia/Jakarta"
    language: Literal["id", "en"] = "id"
    centre_name: str = "Siaga112"
    asterisk: AsteriskSettings = Field(default_factory=AsteriskSettings)
    ami: AmiSettings = Field(default_factory=AmiSettings)
    fastagi: FastAgiSettings = Field(default_factory=FastAgiSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    aml: AmlSettings = Field(default_factory=AmlSettings)

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        if value and value.startswith("postgresql://"):
            return "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        return value

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"

    def asterisk_host_path(self, path_in_asterisk: str) -> Path:
        """Where a file Asterisk sees at ``path_in_asterisk`` lives on this host."""
        if self.asterisk.mode == "host":
            return Path(path_in_asterisk)
        return self.asterisk.root / path_in_asterisk.lstrip("/")

    @property
    def recordings_dir(self) -> str:
        """The recordings folder as Asterisk sees it."""
        return f"{self.asterisk.instance_dir}/recordings"

    def require_secrets(self) -> None:
        """Refuse to start with a missing or placeholder secret."""
        _check_secret(self.ami.secret, "SIAGA_AMI__SECRET")
        _check_secret(self.api.jwt_secret, "SIAGA_API__JWT_SECRET")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
