"""The agencies (OPD) registry: seed, manage, and their webhook signing secrets.

A secret is returned only by ``create`` and ``rotate_secret``; nothing else reads it out, and it is
never logged or audited. A rotation keeps the previous secrets valid for the overlap
(``settings.webhooks.secret_overlap_hours``): meanwhile messages are signed with all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.categories import AGENCY_SEEDS, CATEGORY_BY_CODE
from core.errors import Conflict, NotFound, ValidationFailed
from core.timeutil import utcnow
from models import Agency, AgencySecret
from services import audit
from services.dispatch import egress
from services.dispatch import signing as webhooks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SecretIssued:
    agency: Agency
    secret: str  # shown once
    previous_valid_until: datetime | None


def snapshot(agency: Agency) -> dict[str, Any]:
    """What the audit log keeps of an agency (never a secret)."""
    return {
        "code": agency.code,
        "name": agency.name,
        "categories": list(agency.categories or []),
        "webhook_url": agency.webhook_url,
        "active": agency.active,
        "webhook_disabled_at": agency.webhook_disabled_at.isoformat()
        if agency.webhook_disabled_at
        else None,
    }


def check_categories(categories: Iterable[str]) -> list[str]:
    result = list(dict.fromkeys(categories))
    unknown = [c for c in result if c not in CATEGORY_BY_CODE]
    if unknown:
        raise ValidationFailed(
            "Kategori tidak dikenal / unknown category",
            {"fields": [{"field": "categories", "message": f"unknown: {', '.join(unknown)}"}]},
        )
    return result


async def check_webhook_url(url: str | None, allowlist: egress.Allowlist) -> str | None:
    if url is None or not url.strip():
        return None
    await egress.check(url, allowlist)
    return url.strip()


async def seed(session: AsyncSession) -> None:
    """Insert the regency's usual agencies (idempotent), each with a signing secret."""
    now = utcnow()
    for s in AGENCY_SEEDS:
        await session.execute(
            insert(Agency)
            .values(code=s.code, name=s.name, categories=list(s.categories), active=True)
            .on_conflict_do_nothing(index_elements=["code"])
        )
    for agency_id in await _agencies_without_secret(session):
        session.add(AgencySecret(agency_id=agency_id, secret=webhooks.new_secret(), created_at=now))
    await session.flush()


async def _agencies_without_secret(session: AsyncSession) -> list[int]:
    has_secret = select(AgencySecret.id).where(AgencySecret.agency_id == Agency.id).exists()
    return list((await session.scalars(select(Agency.id).where(~has_secret))).all())


async def list_agencies(session: AsyncSession) -> list[Agency]:
    return list((await session.scalars(select(Agency).order_by(Agency.code))).all())


async def get(session: AsyncSession, code: str) -> Agency:
    agency = await session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise NotFound(f"Instansi tidak ditemukan / agency not found: {code}", {"code": code})
    return agency


async def create(
    session: AsyncSession,
    *,
    actor: str,
    code: str,
    name: str,
    categories: list[str],
    webhook_url: str | None,
    active: bool,
    allowlist: egress.Allowlist,
) -> SecretIssued:
    if await session.scalar(select(Agency.id).where(Agency.code == code)) is not None:
        raise Conflict(f"Kode instansi sudah dipakai / agency code taken: {code}", {"code": code})
    agency = Agency(
        code=code,
        name=name,
        categories=check_categories(categories),
        webhook_url=await check_webhook_url(webhook_url, allowlist),
        active=active,
    )
    session.add(agency)
    await session.flush()
    secret = webhooks.new_secret()
    session.add(AgencySecret(agency_id=agency.id, secret=secret, created_at=utcnow()))
    await audit.record(
        session,
        actor=actor,
        action="agency.created",
        entity="agency",
        entity_id=agency.code,
        after=snapshot(agency),
    )
    log.info("agency %s created by %s", agency.code, actor)
    return SecretIssued(agency, secret, None)


async def update_agency(
    session: AsyncSession,
    code: str,
    *,
    actor: str,
    changes: dict[str, Any],
    allowlist: egress.Allowlist,
) -> Agency:
    """Apply ``changes`` (name, categories, webhook_url, active, webhook_enabled)."""
    agency = await get(session, code)
    before = snapshot(agency)
    if "name" in changes:
        agency.name = changes["name"]
    if "categories" in changes:
        agency.categories = check_categories(changes["categories"])
    if "webhook_url" in changes:
        agency.webhook_url = await check_webhook_url(changes["webhook_url"], allowlist)
        agency.webhook_disabled_at = None  # a new endpoint starts enabled
    if "active" in changes:
        agency.active = bool(changes["active"])
    if changes.get("webhook_enabled") is True:
        agency.webhook_disabled_at = None
    elif changes.get("webhook_enabled") is False and agency.webhook_disabled_at is None:
        agency.webhook_disabled_at = utcnow()
    old, new = audit.changes(before, snapshot(agency))
    if new:
        await audit.record(
            session,
            actor=actor,
            action="agency.updated",
            entity="agency",
            entity_id=agency.code,
            before=old,
            after=new,
        )
    await session.flush()
    return agency


async def rotate_secret(
    session: AsyncSession, code: str, *, actor: str, overlap_hours: float
) -> SecretIssued:
    agency = await get(session, code)
    now = utcnow()
    until = now + timedelta(hours=overlap_hours)
    await session.execute(
        update(AgencySecret)
        .where(
            AgencySecret.agency_id == agency.id,
            or_(AgencySecret.expires_at.is_(None), AgencySecret.expires_at > until),
        )
        .values(expires_at=until)
    )
    secret = webhooks.new_secret()
    session.add(AgencySecret(agency_id=agency.id, secret=secret, created_at=now))
    await audit.record(
        session,
        actor=actor,
        action="agency.secret_rotated",
        entity="agency",
        entity_id=agency.code,
        after={"previous_valid_until": until.isoformat()},
    )
    await session.flush()
    log.info("agency %s signing secret rotated by %s", agency.code, actor)
    return SecretIssued(agency, secret, until)


async def valid_secrets(session: AsyncSession, agency_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each agency's secrets valid now, newest first."""
    ids = list(set(agency_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(AgencySecret.agency_id, AgencySecret.secret)
        .where(
            AgencySecret.agency_id.in_(ids),
            or_(AgencySecret.expires_at.is_(None), AgencySecret.expires_at > utcnow()),
        )
        .order_by(AgencySecret.agency_id, AgencySecret.created_at.desc(), AgencySecret.id.desc())
    )
    result: dict[int, list[str]] = {i: [] for i in ids}
    for agency_id, secret in rows:
        result[agency_id].append(secret)
    return result
