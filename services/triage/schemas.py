"""Request bodies for caller flags and the prank policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.triage.policy import LOW_PRIORITY, NORMAL_PRIORITY

MAX_HOURS = 24 * 90


class FlagIn(BaseModel):
    """A supervisor flags a number as a prank caller by hand."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=500)
    hours: float | None = Field(default=None, gt=0, le=MAX_HOURS)  # default: the policy's
    priority_penalty: int | None = Field(default=None, ge=0, le=NORMAL_PRIORITY - LOW_PRIORITY)


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=500)


class PolicyIn(BaseModel):
    """Changes to the prank policy: send only what changes."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    window_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS)
    half_life_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS)
    threshold: float | None = Field(default=None, gt=0, le=1000)
    prank_weight: float | None = Field(default=None, ge=0, le=100)
    ghost_weight: float | None = Field(default=None, ge=0, le=100)
    priority_penalty: int | None = Field(default=None, ge=0, le=NORMAL_PRIORITY - LOW_PRIORITY)
    warn: bool | None = None
    manual_flag_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS)
