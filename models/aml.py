from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class AmlPosition(Base):
    """A phone's position received by Advanced Mobile Location (docs/aml.md), as sent, with the
    ticket it was matched to (NULL until its ticket is found)."""

    __tablename__ = "aml_positions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[datetime]
    via: Mapped[str] = mapped_column(String(8))  # services.aml.parse.Via
    caller_number: Mapped[str] = mapped_column(String(32))  # normalised like tickets'
    latitude: Mapped[float]
    longitude: Mapped[float]
    radius_m: Mapped[float | None]
    positioned_at: Mapped[datetime | None]
    confidence: Mapped[int | None] = mapped_column(SmallInteger)  # percent
    method: Mapped[str | None] = mapped_column(String(1))  # services.aml.parse.Method
    raw: Mapped[str] = mapped_column(Text)  # the form body or SMS text as received
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="RESTRICT"))
    matched_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("confidence IS NULL OR confidence BETWEEN 0 AND 100", name="confidence"),
        # a ticket's positions, newest first (the ticket view)
        Index("ix_aml_positions_ticket_received", "ticket_id", "received_at"),
        # positions still waiting for their ticket, by number and time (matching)
        Index(
            "ix_aml_positions_pending",
            "caller_number",
            "received_at",
            postgresql_where=sql("ticket_id IS NULL"),
        ),
    )
