"""What happens to a caller before the queue: priority, silent-call check, warning.

``decide`` is called on the call path (inside the FastAGI bound) for every arriving call. It must be
one or two indexed queries at most. A decision never refuses service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

NORMAL_PRIORITY = 5
LOW_PRIORITY = 1


@dataclass(frozen=True, slots=True)
class TriageDecision:
    priority: int = NORMAL_PRIORITY
    silent_check: bool = True  # ask a silent caller to speak or press a key
    warn: bool = False  # play the repeat-prank warning before the queue
    code: str = "normal"  # goes into the dialplan variable SIAGA_TRIAGE
    reasons: list[str] = field(default_factory=list)  # recorded on the ticket


async def decide(session: AsyncSession, caller_number: str | None, now: datetime) -> TriageDecision:
    """The decision for a caller arriving ``now``. Unknown callers get the normal decision."""
    return TriageDecision()
