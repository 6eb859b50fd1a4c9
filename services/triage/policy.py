"""The centre's prank policy, as pure functions of a caller's history and flags at a given time.

Each prank-classified call in the window adds ``prank_weight`` to the caller's score, each ghost
call ``ghost_weight``, both halving every ``half_life_hours``:

    score(now) = sum of weight * 2 ** (-(now - arrived_at) / half_life)   over calls in the window

A caller whose score reaches ``threshold`` is flagged: queue priority lowered by
``priority_penalty`` (never below 1) and the warning played before the queue. The flag ends by
itself when the score decays below the threshold or calls leave the window (``expires_at``).
A supervisor's flag overrides the policy; a "cleared" flag lifts every earlier flag and the policy
then counts only calls that arrive after it. No decision ever refuses service.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.errors import ValidationFailed
from core.names import Classification, FlagKind, FlagSource
from core.timeutil import local

NORMAL_PRIORITY = 5
LOW_PRIORITY = 1  # the lowest queue priority; no caller goes below it

# reason codes (Verdict.reasons)
REASON_POLICY = "repeat_prank"
REASON_MANUAL = "manual_flag"


class PolicyError(ValidationFailed):
    error_id = "invalid-triage-policy"


# The longest window a centre may set: history older than this never counts.
LONGEST_WINDOW_HOURS = 24.0 * 30
# name: (type, minimum, maximum)
_LIMITS: dict[str, tuple[type, float, float]] = {
    "window_hours": (float, 1.0, LONGEST_WINDOW_HOURS),
    "half_life_hours": (float, 0.1, 24.0 * 30),
    "threshold": (float, 0.1, 1000.0),
    "prank_weight": (float, 0.0, 100.0),
    "ghost_weight": (float, 0.0, 100.0),
    "priority_penalty": (int, 0, NORMAL_PRIORITY - LOW_PRIORITY),
    "manual_flag_hours": (float, 0.1, 24.0 * 90),
}


@dataclass(frozen=True, slots=True)
class PolicySettings:
    enabled: bool = True
    window_hours: float = 24.0  # only calls this recent count
    half_life_hours: float = 6.0  # a call's weight halves every half-life
    threshold: float = 3.0  # flagged from this score
    prank_weight: float = 1.0
    ghost_weight: float = 0.25  # silent or dropped calls weigh less than pranks
    priority_penalty: int = 3  # queue priority NORMAL_PRIORITY - penalty, never below 1
    warn: bool = True  # play the warning before the queue while flagged
    manual_flag_hours: float = 24.0  # default duration of a flag a supervisor sets

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PolicySettings:
        """Known keys only (others are ignored); anything missing keeps its default."""
        known = {f.name for f in fields(cls)}
        return cls().updated({k: v for k, v in (data or {}).items() if k in known})

    def updated(self, changes: dict[str, Any]) -> PolicySettings:
        """A copy with ``changes`` applied; PolicyError names every bad value."""
        known = {f.name for f in fields(self)}
        errors: dict[str, str] = {}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                errors[name] = "unknown setting"
            elif name in ("enabled", "warn"):
                if not isinstance(value, bool):
                    errors[name] = "must be true or false"
                else:
                    clean[name] = value
            else:
                kind, low, high = _LIMITS[name]
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                if ok and kind is int and float(value) != int(value):
                    ok = False
                if not ok or not (low <= value <= high) or math.isnan(value):
                    errors[name] = f"must be a {kind.__name__} between {low:g} and {high:g}"
                else:
                    clean[name] = kind(value)
        if errors:
            raise PolicyError("Kebijakan tidak valid / invalid triage policy", {"fields": errors})
        return replace(self, **clean)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FlagStatus(StrEnum):
    """Where a caller_flags row stands at a given time."""

    ACTIVE = "active"  # a prank flag in force (unless a later lift overrides it)
    SCHEDULED = "scheduled"  # created for a later time
    EXPIRED = "expired"
    LIFT = "lift"  # a "cleared" row: it lifts the flags before it

    @classmethod
    def of(
        cls, kind: str, created_at: datetime, expires_at: datetime | None, now: datetime
    ) -> FlagStatus:
        if kind == FlagKind.CLEARED:
            return cls.LIFT
        if created_at > now:
            return cls.SCHEDULED
        if expires_at is not None and expires_at <= now:
            return cls.EXPIRED
        return cls.ACTIVE


@dataclass(frozen=True, slots=True)
class PastCall:
    at: datetime
    classification: str | None


@dataclass(frozen=True, slots=True)
class Flag:
    kind: str  # FlagKind
    source: str  # FlagSource
    created_at: datetime
    expires_at: datetime | None = None
    reason: str | None = None
    set_by: str = ""
    priority_penalty: int | None = 0
    id: int | None = None

    def active(self, now: datetime) -> bool:
        return self.created_at <= now and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool = False
    source: str | None = None  # FlagSource when flagged
    priority: int = NORMAL_PRIORITY
    warn: bool = False
    score: float = 0.0
    expires_at: datetime | None = None  # when the flag ends (no new prank call assumed)
    cleared_at: datetime | None = None  # the last lift: calls before it do not count
    reasons: tuple[str, ...] = ()  # REASON_* codes
    prank_calls: int = 0  # prank calls counted
    ghost_calls: int = 0  # ghost calls counted
    flag: Flag | None = None  # the supervisor's flag behind a manual verdict
    details: dict[str, Any] = field(default_factory=dict)


def weight(settings: PolicySettings, classification: str | None) -> float:
    if classification == Classification.PRANK:
        return settings.prank_weight
    if classification == Classification.GHOST:
        return settings.ghost_weight
    return 0.0


def _counted(
    settings: PolicySettings, calls: Iterable[PastCall], now: datetime, since: datetime | None
) -> list[PastCall]:
    start = now - timedelta(hours=settings.window_hours)
    return [
        c
        for c in calls
        if weight(settings, c.classification) > 0
        and start < c.at <= now
        and (since is None or c.at > since)
    ]


def _decayed(settings: PolicySettings, calls: Iterable[PastCall], now: datetime) -> float:
    half_life = settings.half_life_hours * 3600.0
    return sum(
        weight(settings, c.classification) * 2.0 ** (-(now - c.at).total_seconds() / half_life)
        for c in calls
    )


def score(
    settings: PolicySettings,
    calls: Iterable[PastCall],
    now: datetime,
    since: datetime | None = None,
) -> float:
    """The caller's decayed score at ``now`` (calls at or before ``since`` do not count)."""
    return _decayed(settings, _counted(settings, calls, now, since), now)


def expiry(
    settings: PolicySettings,
    calls: Iterable[PastCall],
    now: datetime,
    since: datetime | None = None,
) -> datetime:
    """The first moment from ``now`` on when, with no new calls, the score is below the
    threshold: by decay, or when calls leave the window, whichever comes first."""
    points = sorted(_counted(settings, calls, now, since), key=lambda c: c.at)
    window = timedelta(hours=settings.window_hours)
    half_life = settings.half_life_hours * 3600.0
    start = now
    while points:
        level = _decayed(settings, points, start)
        if level < settings.threshold:
            return start
        crossing = start + timedelta(seconds=half_life * math.log2(level / settings.threshold))
        leaves = points[0].at + window  # the oldest counted call leaves the window then
        if crossing <= leaves:
            return crossing
        start = leaves
        points = points[1:]
    return start


def evaluate(
    calls: Sequence[PastCall],
    flags: Sequence[Flag],
    now: datetime,
    settings: PolicySettings,
) -> Verdict:
    """The verdict for a caller arriving ``now``."""
    lifts = [f for f in flags if f.kind == FlagKind.CLEARED and f.active(now)]
    cleared_at = max((f.created_at for f in lifts), default=None)
    counted = _counted(settings, calls, now, cleared_at)
    current = _decayed(settings, counted, now)
    pranks = sum(1 for c in counted if c.classification == Classification.PRANK)
    ghosts = len(counted) - pranks
    manual = [
        f
        for f in flags
        if f.kind == FlagKind.PRANK
        and f.active(now)
        and (cleared_at is None or f.created_at > cleared_at)
    ]
    if manual:
        flag = max(manual, key=lambda f: f.created_at)
        penalty = flag.priority_penalty or settings.priority_penalty
        return Verdict(
            flagged=True,
            source=FlagSource.MANUAL.value,
            priority=max(LOW_PRIORITY, NORMAL_PRIORITY - penalty),
            warn=True,
            score=current,
            expires_at=flag.expires_at,
            cleared_at=cleared_at,
            reasons=(REASON_MANUAL,),
            prank_calls=pranks,
            ghost_calls=ghosts,
            flag=flag,
        )
    if not settings.enabled or current < settings.threshold:
        return Verdict(score=current, cleared_at=cleared_at, prank_calls=pranks, ghost_calls=ghosts)
    return Verdict(
        flagged=True,
        source=FlagSource.POLICY.value,
        priority=max(LOW_PRIORITY, NORMAL_PRIORITY - settings.priority_penalty),
        warn=settings.warn,
        score=current,
        expires_at=expiry(settings, counted, now),
        cleared_at=cleared_at,
        reasons=(REASON_POLICY,),
        prank_calls=pranks,
        ghost_calls=ghosts,
    )


def _until(at: datetime | None, lang: str) -> str:
    if at is None:
        return "sampai dicabut" if lang == "id" else "until lifted"
    text = local(at).strftime("%d/%m %H:%M") + " WIB"
    return f"hingga {text}" if lang == "id" else f"until {text}"


def describe(verdict: Verdict, settings: PolicySettings, lang: str = "id") -> list[str]:
    """One sentence per reason, for the ticket's triage note and the consoles (Bahasa Indonesia
    by default, ``lang="en"`` for English)."""
    out: list[str] = []
    warning_id = ", peringatan diputar" if verdict.warn else ""
    warning_en = ", warning played" if verdict.warn else ""
    until = _until(verdict.expires_at, lang)
    for code in verdict.reasons:
        if code == REASON_MANUAL and verdict.flag is not None:
            who, why = verdict.flag.set_by, verdict.flag.reason or "-"
            if lang == "en":
                out.append(
                    f"flagged as a prank caller by {who}: {why}; "
                    f"queue priority {verdict.priority}{warning_en}, {until}"
                )
            else:
                out.append(
                    f"ditandai penelepon iseng oleh {who}: {why}; "
                    f"prioritas antrean {verdict.priority}{warning_id}, {until}"
                )
        elif code == REASON_POLICY:
            hours = f"{settings.window_hours:g}"
            level = f"{verdict.score:.2f}"
            limit = f"{settings.threshold:g}"
            pranks, ghosts = verdict.prank_calls, verdict.ghost_calls
            if lang == "en":
                counts = f"{pranks} prank and {ghosts} ghost calls in {hours} h"
                out.append(
                    f"repeat caller: {counts} (score {level} >= {limit}); "
                    f"queue priority {verdict.priority}{warning_en}, {until}"
                )
            else:
                counts = f"{pranks} panggilan iseng dan {ghosts} panggilan kosong dalam {hours} jam"
                out.append(
                    f"penelepon berulang: {counts} (skor {level.replace('.', ',')} >= {limit}); "
                    f"prioritas antrean {verdict.priority}{warning_id}, {until}"
                )
    return out
