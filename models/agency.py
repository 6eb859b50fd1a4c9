from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps


class Agency(Timestamps, Base):
    """An OPD that receives dispatches: Damkar, PSC 119, BPBD, Polres, ..."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # a 410 from the endpoint disables delivery until an admin re-enables it
    webhook_disabled_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("code"),)


class AgencySecret(Base):
    """Webhook signing secrets. Rotation keeps the old one valid until ``expires_at``."""

    __tablename__ = "agency_secrets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    secret: Mapped[str] = mapped_column(String(128))  # base64, as Standard Webhooks "whsec_..."
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_agency_secrets_agency_id", "agency_id"),)
