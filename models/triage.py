from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class CallerFlag(Base):
    """A flag on a caller number, set by the prank policy or by a supervisor's hand.

    A flag never refuses service: it lowers queue priority and may play a warning, until it expires.
    """

    __tablename__ = "caller_flags"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    caller_number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # "prank" (policy or manual), "cleared" (lifted)
    source: Mapped[str] = mapped_column(String(16))  # "policy" or "manual"
    set_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    priority_penalty: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_caller_flags_number_created", "caller_number", "created_at"),)
