from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.names import DeliveryState, DispatchState
from models.base import Base, Timestamps

if TYPE_CHECKING:
    from models.ticket import Ticket


class Dispatch(Timestamps, Base):
    """A ticket handed to one agency, and that agency's handling of it."""

    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    state: Mapped[str] = mapped_column(String(16), default=DispatchState.PENDING.value)
    dispatched_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)  # the centre's note to the agency
    acknowledged_at: Mapped[datetime | None]
    en_route_at: Mapped[datetime | None]
    on_scene_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    report: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="dispatches")

    __table_args__ = (
        UniqueConstraint("ticket_id", "agency_id"),
        Index("ix_dispatches_agency_id_id", "agency_id", "id"),
    )


class DispatchUpdate(Base):
    """A status report from an agency's field officer."""

    __tablename__ = "dispatch_updates"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    officer_name: Mapped[str | None] = mapped_column(String(200))
    officer_id: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    at: Mapped[datetime]

    __table_args__ = (Index("ix_dispatch_updates_dispatch_id", "dispatch_id"),)


class OutboxMessage(Base):
    """A webhook to deliver, written in the same transaction as the change it announces."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))  # webhook-id, the idempotency key
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    dispatch_id: Mapped[int | None] = mapped_column(ForeignKey("dispatches.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(12), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    # the retry window (max_age_hours) starts at created_at, or at the last redelivery
    redelivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index(
            "ix_outbox_open",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'delivering')"),
        ),
        Index("ix_outbox_dispatch_id", "dispatch_id"),
        Index("ix_outbox_dead", "dead_at", "id", postgresql_where=text("state = 'dead'")),
    )


class DeliveryAttempt(Base):
    """One row per delivery attempt: the delivery log."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)  # truncated
    worker: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_delivery_attempts_outbox_id", "outbox_id"),)
