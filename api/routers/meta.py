"""The fixed lists the consoles need: categories, states, classifications."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentPrincipal
from core.categories import CATEGORIES
from core.names import Classification, Role, TicketState, Victims
from services.tickets.lifecycle import ALLOWED

router = APIRouter(prefix="/meta", tags=["meta"])


@router.get("/categories")
async def categories(_: CurrentPrincipal) -> list[dict[str, object]]:
    return [
        {"code": c.code, "name_id": c.name_id, "name_en": c.name_en, "agencies": list(c.agencies)}
        for c in CATEGORIES
    ]


@router.get("/names")
async def names(_: CurrentPrincipal) -> dict[str, object]:
    return {
        "ticket_states": [s.value for s in TicketState],
        "transitions": {s.value: sorted(t.value for t in ALLOWED[s]) for s in TicketState},
        "classifications": [c.value for c in Classification],
        "victims": [v.value for v in Victims],
        "roles": [r.value for r in Role],
    }
