from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class GatewayHeartbeat(Base):
    """What a running gateway last said about itself (written every few seconds)."""

    __tablename__ = "gateway_heartbeats"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid
    ami_connected: Mapped[bool]
    spool_pending: Mapped[int] = mapped_column(Integer)  # call facts waiting on local disk
    agi_in_flight: Mapped[int] = mapped_column(Integer)
    calltakers_paused: Mapped[int] = mapped_column(Integer, server_default="0")
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
