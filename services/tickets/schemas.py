from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.categories import CATEGORY_BY_CODE
from core.names import Classification, TicketState, Victims


class TicketForm(BaseModel):
    """What the call taker fills in. Every field optional: send only what changed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reporter_name: str | None = Field(default=None, max_length=200)
    callback_number: str | None = Field(default=None, max_length=32)
    location_text: str | None = Field(default=None, max_length=2000)
    kecamatan: str | None = Field(default=None, max_length=100)
    desa: str | None = Field(default=None, max_length=100)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    victims: Victims | None = None
    victims_count: int | None = Field(default=None, ge=0, le=100_000)
    access_route: str | None = Field(default=None, max_length=2000)
    category: str | None = None
    description: str | None = Field(default=None, max_length=10_000)
    priority: int | None = Field(default=None, ge=1, le=10)
    # the ticket's updated_at as the client last saw it: a newer one on the server means 409
    if_unmodified_since: datetime | None = None

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str | None) -> str | None:
        if value is not None and value not in CATEGORY_BY_CODE:
            raise ValueError(f"unknown category; one of {sorted(CATEGORY_BY_CODE)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        fields = self.model_fields_set
        if ("latitude" in fields) != ("longitude" in fields) or (
            (self.latitude is None) != (self.longitude is None)
        ):
            raise ValueError("latitude and longitude go together: give both or neither")
        if self.victims is Victims.COUNT and self.victims_count is None:
            raise ValueError("victims_count is required when victims is 'count'")
        if (
            "victims_count" in fields
            and self.victims_count is not None
            and (self.victims is not Victims.COUNT)
        ):
            raise ValueError("victims_count goes with victims='count'")
        return self


class ClassificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classification: Classification
    note: str | None = Field(default=None, max_length=2000)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: TicketState
    note: str | None = Field(default=None, max_length=2000)


class TicketSummary(BaseModel):
    id: int
    number: str
    state: str
    classification: str | None
    classified_by: str | None
    category: str | None
    priority: int
    caller_number: str | None
    reporter_name: str | None
    location_text: str | None
    latitude: float | None
    longitude: float | None
    assigned_to: str | None
    triage_note: str | None
    created_at: datetime
    updated_at: datetime


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None
