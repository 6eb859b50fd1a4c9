"""Bodies of the agencies, dispatch and agency-portal endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CODE_PATTERN = r"^[a-z][a-z0-9_-]{1,31}$"


class AgencyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    categories: list[str]
    webhook_url: str | None
    active: bool
    webhook_disabled_at: datetime | None


class AgencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=2, max_length=200)
    categories: list[str] = Field(default_factory=list, max_length=40)
    webhook_url: str | None = Field(default=None, max_length=500)
    active: bool = True


class AgencyUpdate(BaseModel):
    """Fields to change; ``webhook_enabled: true`` re-enables an endpoint a 410 disabled."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=2, max_length=200)
    categories: list[str] | None = Field(default=None, max_length=40)
    webhook_url: str | None = Field(default=None, max_length=500)
    active: bool | None = None
    webhook_enabled: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> AgencyUpdate:
        for name in ("name", "categories", "active", "webhook_enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (leave it out to keep it)")
        return self


class AgencyWithSecret(BaseModel):
    """Returned once, at creation or rotation: store ``secret`` now, it is never shown again."""

    agency: AgencyRead
    secret: str
    previous_valid_until: datetime | None = None


class SuggestedAgency(BaseModel):
    id: int
    code: str
    name: str
    categories: list[str]
    suggested: bool
    dispatched: bool
    has_webhook: bool


class DispatchCreate(BaseModel):
    """Agencies by code (``agency_codes``) or by id (``agency_ids``), or both."""

    model_config = ConfigDict(extra="forbid")

    agency_codes: list[str] = Field(default_factory=list, max_length=20)
    agency_ids: list[int] = Field(default_factory=list, max_length=20)
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _some_agency(self) -> DispatchCreate:
        if not self.agency_codes and not self.agency_ids:
            raise ValueError("choose at least one agency (agency_codes or agency_ids)")
        return self


class DispatchRead(BaseModel):
    id: int
    ticket_id: int
    ticket_number: str
    agency_id: int
    agency_code: str
    agency_name: str
    state: str
    note: str | None
    report: str | None
    dispatched_by: str
    created_at: datetime
    acknowledged_at: datetime | None
    en_route_at: datetime | None
    on_scene_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    delivery_state: str | None = None


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000)


class Officer(BaseModel):
    officer_name: str | None = Field(default=None, max_length=200)
    officer_id: str | None = Field(default=None, max_length=64)


class AcknowledgeBody(Officer):
    note: str | None = Field(default=None, max_length=2000)


class StatusUpdate(Officer):
    state: Literal["en_route", "on_scene", "resolved"]
    note: str | None = Field(default=None, max_length=2000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _both_or_neither(self) -> StatusUpdate:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together")
        return self


class CloseBody(Officer):
    report: str = Field(min_length=3, max_length=10000)


class UpdateRead(BaseModel):
    state: str
    note: str | None
    officer_name: str | None
    officer_id: str | None
    latitude: float | None
    longitude: float | None
    at: datetime


class TicketForAgency(BaseModel):
    """What an agency sees of a ticket dispatched to it."""

    id: int
    number: str
    state: str
    category: str | None
    priority: int
    location_text: str | None
    kecamatan: str | None
    desa: str | None
    latitude: float | None
    longitude: float | None
    victims: str | None
    victims_count: int | None
    access_route: str | None
    description: str | None
    reporter_name: str | None
    callback_number: str | None
    created_at: datetime


class AgencyDispatchRead(DispatchRead):
    """An agency's view: its dispatch, the ticket's details it needs, its own updates."""

    ticket: TicketForAgency
    updates: list[UpdateRead] = Field(default_factory=list)


class AgencyDispatchPage(BaseModel):
    items: list[AgencyDispatchRead]
    next_cursor: int | None = None


class DeliveryAttemptRead(BaseModel):
    attempt: int
    started_at: datetime
    ended_at: datetime | None
    status_code: int | None
    error: str | None
    response_body: str | None
    worker: str | None


class MessageRead(BaseModel):
    message_id: str
    agency: str
    dispatch_id: int | None
    event_type: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str | None


class MessageLog(MessageRead):
    attempts_log: list[DeliveryAttemptRead]


class DeadLetterRead(MessageRead):
    """A message delivery gave up on, with what a supervisor needs to act on it."""

    agency_name: str
    ticket_id: int | None  # none for a message about no dispatch (a ping)
    ticket_number: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    next_cursor: int | None = None


class OverdueDispatch(BaseModel):
    """A dispatch the agency has not acknowledged within the threshold."""

    model_config = ConfigDict(from_attributes=True)

    dispatch_id: int
    created_at: datetime
    waiting_seconds: float
    ticket_id: int
    ticket_number: str
    category: str | None
    agency_id: int
    agency_code: str
    agency_name: str
    has_webhook: bool
    delivery_state: str | None  # its latest webhook message's; none: it follows the agency view


class OverduePage(BaseModel):
    threshold_seconds: int
    total: int  # all overdue dispatches; ``items`` holds the longest waiting of them
    items: list[OverdueDispatch]
