from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.names import CallDirection, CallOutcome
from models.base import Base

if TYPE_CHECKING:
    from models.ticket import Ticket


class Call(Base):
    """One phone call as Asterisk saw it, keyed by the channel's unique id."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str | None] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="RESTRICT"))
    direction: Mapped[str] = mapped_column(String(10), default=CallDirection.INBOUND.value)
    channel: Mapped[str | None] = mapped_column(String(128))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    caller_number_raw: Mapped[str | None] = mapped_column(String(80))
    caller_name: Mapped[str | None] = mapped_column(String(80))
    dialled: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(12), default=CallOutcome.IN_PROGRESS.value)
    arrived_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    calltaker: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    queue_priority: Mapped[int | None] = mapped_column(Integer)
    queue_position: Mapped[int | None] = mapped_column(Integer)  # on joining, or on abandoning
    wait_seconds: Mapped[float | None]
    talk_seconds: Mapped[float | None]
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(80))
    recording_path: Mapped[str | None] = mapped_column(String(255))  # relative to recordings dir
    recording_seconds: Mapped[float | None]
    triage: Mapped[str | None] = mapped_column(String(20))
    # where the facts came from: "live" (FastAGI/AMI) or "reconciled" (Asterisk's own logs)
    source: Mapped[str] = mapped_column(String(12), default="live")

    ticket: Mapped[Ticket | None] = relationship(back_populates="calls")

    __table_args__ = (
        UniqueConstraint("uniqueid"),
        Index("ix_calls_ticket_id", "ticket_id"),
        Index("ix_calls_caller_arrived", "caller_number", "arrived_at"),
        Index("ix_calls_arrived_at", "arrived_at"),
    )


class CallEvent(Base):
    """Everything the gateway learned about a call, in order: the call's timeline."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # core.names.CallEventKind
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (
        Index("ix_call_events_uniqueid_at", "uniqueid", "at"),
        # one row per fact: replaying a fact (spool, Asterisk retry) adds nothing
        UniqueConstraint("uniqueid", "kind", "at"),
    )
