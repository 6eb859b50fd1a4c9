from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, Computed, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.names import TicketState, ticket_number
from models.base import Base, Timestamps

if TYPE_CHECKING:
    from models.call import Call
    from models.dispatch import Dispatch

# The free-text search document (reporter, location, description): a stored column PostgreSQL
# computes when a ticket is written (migration 0007), with the GIN index below on it.
SEARCH_DOCUMENT_SQL = (
    "to_tsvector('simple'::regconfig, coalesce(reporter_name,'') || ' ' || "
    "coalesce(location_text,'') || ' ' || coalesce(description,''))"
)
# Tickets with any words: the predicate of the newest-first index searches walk.
WORDED_SQL = "search_document <> ''::tsvector"


class Ticket(Timestamps, Base):
    """One per emergency call: what the call taker learns, and its lifecycle."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default=TicketState.NEW.value)
    classification: Mapped[str | None] = mapped_column(String(20))
    # who classified: a call taker's account, or "auto" for calls that ended before a call taker
    # spoke
    classified_by: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=5)
    caller_number: Mapped[str | None] = mapped_column(String(32))  # E.164 where Indonesian
    caller_number_raw: Mapped[str | None] = mapped_column(String(80))
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    callback_number: Mapped[str | None] = mapped_column(String(32))
    location_text: Mapped[str | None] = mapped_column(Text)
    kecamatan: Mapped[str | None] = mapped_column(String(100))
    desa: Mapped[str | None] = mapped_column(String(100))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    victims: Mapped[str | None] = mapped_column(String(10))  # core.names.Victims
    victims_count: Mapped[int | None] = mapped_column(Integer)
    access_route: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    assigned_to: Mapped[str | None] = mapped_column(String(64))  # call taker account
    triage_note: Mapped[str | None] = mapped_column(Text)
    # searched, never shown: not loaded with the ticket
    search_document: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed(SEARCH_DOCUMENT_SQL, persisted=True), deferred=True
    )

    calls: Mapped[list[Call]] = relationship(back_populates="ticket", order_by="Call.arrived_at")
    dispatches: Mapped[list[Dispatch]] = relationship(back_populates="ticket")

    __table_args__ = (
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint(
            "longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"
        ),
        Index("ix_tickets_state_id", "state", "id"),
        Index("ix_tickets_caller_created", "caller_number", "created_at"),
        Index("ix_tickets_created_id", "created_at", "id"),
        Index(
            "ix_tickets_search",
            "search_document",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
        Index(
            "ix_tickets_worded_created_id", "created_at", "id", postgresql_where=text(WORDED_SQL)
        ),
    )

    @property
    def number(self) -> str:
        return ticket_number(self.id)
