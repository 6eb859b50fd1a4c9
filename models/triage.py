from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class CallerFlag(Base):
    """A flag on a caller number set by a supervisor's hand: "prank" (lowers priority and plays
    the warning until it expires) or "cleared" (lifts every earlier flag, and the policy counts
    only calls that arrive after it).

    The policy's own flags are computed from the call history on each arrival, not stored.
    A flag never refuses service.
    """

    __tablename__ = "caller_flags"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    caller_number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # core.names.FlagKind
    source: Mapped[str] = mapped_column(String(16))  # "policy" or "manual"
    set_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    priority_penalty: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_caller_flags_number_created", "caller_number", "created_at"),)


class TriageSettings(Base):
    """The centre's prank policy (one row, id 1): thresholds, windows and decay as JSON."""

    __tablename__ = "triage_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
