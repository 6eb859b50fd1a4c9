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

from core.names import Classification, FlagKind, FlagSource
from core.timeutil import local

NORMAL_PRIORITY = 5
LOWEST_PRIORITY = 1


@dataclass(frozen=True, slots=True)
class Policy:
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
    def from_dict(cls, data: dict[str, Any] | None) -> Policy:
        """Known keys only; anything missing keeps its default."""
        known = {f.name for f in fields(cls)}
        return replace(cls(), **{k: v for k, v in (data or {}).items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PastCall:
    at: datetime
    classification: str | None


@dataclass(frozen=True, slots=True)
class Flag:
    kind: str  # FlagKind
    source: str  # FlagSource
    set_by: str
    created_at: datetime
    expires_at: datetime | None = None
    reason: str | None = None
    priority_penalty: int = 0

    def active(self, now: datetime) -> bool:
        return self.created_at <= now and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a caller is flagged, as data; ``format_reason`` turns it into a sentence."""

    code: str  # "policy" or "manual"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool = False
    source: str | None = None  # FlagSource when flagged
    priority: int = NORMAL_PRIORITY
    warn: bool = False
    score: float = 0.0
    expires_at: datetime | None = None
    cleared_at: datetime | None = None  # the last lift: calls before it do not count
    reasons: tuple[Reason, ...] = ()


def weight(policy: Policy, classification: str | None) -> float:
    if classification == Classification.PRANK:
        return policy.prank_weight
    if classification == Classification.GHOST:
        return policy.ghost_weight
    return 0.0


def _counted(
    policy: Policy, calls: Iterable[PastCall], now: datetime, since: datetime | None
) -> list[tuple[datetime, float]]:
    start = now - timedelta(hours=policy.window_hours)
    out = []
    for call in calls:
        w = weight(policy, call.classification)
        if w <= 0 or call.at > now or call.at <= start:
            continue
        if since is not None and call.at <= since:
            continue
        out.append((call.at, w))
    return out


def _decayed(policy: Policy, points: Iterable[tuple[datetime, float]], now: datetime) -> float:
    half_life = policy.half_life_hours * 3600.0
    return sum(w * 2.0 ** (-(now - at).total_seconds() / half_life) for at, w in points)


def score(
    policy: Policy, calls: Iterable[PastCall], now: datetime, since: datetime | None = None
) -> float:
    """The caller's decayed score at ``now`` (calls at or before ``since`` do not count)."""
    return _decayed(policy, _counted(policy, calls, now, since), now)


def expiry(
    policy: Policy, calls: Iterable[PastCall], now: datetime, since: datetime | None = None
) -> datetime:
    """The first moment from ``now`` on when, with no new calls, the score is below the
    threshold: by decay, or when calls leave the window."""
    points = sorted(_counted(policy, calls, now, since))
    window = timedelta(hours=policy.window_hours)
    half_life = policy.half_life_hours * 3600.0
    start = now
    while points:
        level = _decayed(policy, points, start)
        if level < policy.threshold:
            return start
        crossing = start + timedelta(seconds=half_life * math.log2(level / policy.threshold))
        leaves = points[0][0] + window  # the oldest call leaves the window then
        if crossing <= leaves:
            return crossing
        start = leaves
        points = points[1:]
    return start


def evaluate(
    policy: Policy, calls: Sequence[PastCall], flags: Sequence[Flag], now: datetime
) -> Verdict:
    """The verdict for a caller arriving ``now``."""
    lifts = [f for f in flags if f.kind == FlagKind.CLEARED and f.active(now)]
    cleared_at = max((f.created_at for f in lifts), default=None)
    manual = [
        f
        for f in flags
        if f.kind == FlagKind.PRANK
        and f.active(now)
        and (cleared_at is None or f.created_at > cleared_at)
    ]
    current = score(policy, calls, now, cleared_at)
    if manual:
        flag = max(manual, key=lambda f: f.created_at)
        penalty = flag.priority_penalty or policy.priority_penalty
        priority = max(LOWEST_PRIORITY, NORMAL_PRIORITY - penalty)
        reason = Reason(
            "manual",
            {
                "set_by": flag.set_by,
                "reason": flag.reason or "",
                "priority": priority,
                "expires_at": flag.expires_at,
            },
        )
        return Verdict(
            True, FlagSource.MANUAL.value, priority, True, current, flag.expires_at, cleared_at,
            (reason,),
        )
    if not policy.enabled or current < policy.threshold:
        return Verdict(score=current, cleared_at=cleared_at)
    counted = _counted(policy, calls, now, cleared_at)
    pranks = sum(
        1 for c in calls
        if c.classification == Classification.PRANK and (c.at, policy.prank_weight) in counted
    )
    ghosts = sum(
        1 for c in calls
        if c.classification == Classification.GHOST and (c.at, policy.ghost_weight) in counted
    )
    priority = max(LOWEST_PRIORITY, NORMAL_PRIORITY - policy.priority_penalty)
    expires_at = expiry(policy, calls, now, cleared_at)
    reason = Reason(
        "policy",
        {
            "pranks": pranks,
            "ghosts": ghosts,
            "window_hours": policy.window_hours,
            "score": round(current, 2),
            "threshold": policy.threshold,
            "priority": priority,
            "warn": policy.warn,
            "expires_at": expires_at,
        },
    )
    return Verdict(
        True, FlagSource.POLICY.value, priority, policy.warn, current, expires_at, cleared_at,
        (reason,),
    )


def _hours(value: float) -> str:
    return f"{value:g}"


def _when(at: datetime | None, lang: str) -> str:
    if at is None:
        return "dicabut" if lang == "id" else "lifted"
    return local(at).strftime("%d/%m %H:%M") + " WIB"


def format_reason(reason: Reason, lang: str = "id") -> str:
    """One sentence for the ticket's triage note and the consoles (Bahasa Indonesia by default)."""
    p = reason.params
    if reason.code == "manual":
        until = _when(p.get("expires_at"), lang)
        if lang == "en":
            return (
                f"flagged as prank caller by {p['set_by']}: {p.get('reason') or '-'}; "
                f"queue priority {p['priority']}, warning played, until {until}"
            )
        return (
            f"ditandai penelepon iseng oleh {p['set_by']}: {p.get('reason') or '-'}; "
            f"prioritas antrean {p['priority']}, peringatan diputar, hingga {until}"
        )
    score_text = f"{p['score']:.2f}"
    if lang == "en":
        warning = ", warning played" if p.get("warn") else ""
        return (
            f"repeat caller: {p['pranks']} prank and {p['ghosts']} ghost calls in "
            f"{_hours(p['window_hours'])} h (score {score_text} >= {p['threshold']:g}); "
            f"queue priority {p['priority']}{warning}, until {_when(p.get('expires_at'), lang)}"
        )
    warning = ", peringatan diputar" if p.get("warn") else ""
    return (
        f"penelepon berulang: {p['pranks']} panggilan iseng dan {p['ghosts']} panggilan kosong "
        f"dalam {_hours(p['window_hours'])} jam (skor {score_text.replace('.', ',')} >= "
        f"{p['threshold']:g}); prioritas antrean {p['priority']}{warning}, "
        f"hingga {_when(p.get('expires_at'), lang)}"
    )


def format_reasons(reasons: Iterable[Reason], lang: str = "id") -> list[str]:
    return [format_reason(r, lang) for r in reasons]
