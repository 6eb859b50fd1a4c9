"""The agencies (OPD) registry: admins manage it, centre staff read it. Signing secrets appear
only in the answers of creation and rotation."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request

from api.deps import Admin, CentreStaff, Session
from core.settings import Settings
from services.dispatch import agencies, egress
from services.dispatch.agencies import SecretIssued
from services.dispatch.schemas import AgencyCreate, AgencyRead, AgencyUpdate, AgencyWithSecret

router = APIRouter(prefix="/agencies", tags=["agencies"])
Code = Path(pattern=r"^[a-z][a-z0-9_-]{1,31}$")


def _allowlist(request: Request) -> egress.Allowlist:
    settings: Settings = request.app.state.settings
    return egress.Allowlist.parse(settings.webhooks.allowlist)


def _issued(issued: SecretIssued) -> AgencyWithSecret:
    return AgencyWithSecret(
        agency=AgencyRead.model_validate(issued.agency),
        secret=issued.secret,
        previous_valid_until=issued.previous_valid_until,
    )


@router.get("", response_model=list[AgencyRead])
async def list_agencies(session: Session, _: CentreStaff) -> list[AgencyRead]:
    return [AgencyRead.model_validate(a) for a in await agencies.list_agencies(session)]


@router.post("", response_model=AgencyWithSecret, status_code=201)
async def create_agency(
    body: AgencyCreate, request: Request, session: Session, admin: Admin
) -> AgencyWithSecret:
    """Register an agency. The answer holds its webhook signing secret: shown this once."""
    issued = await agencies.create(
        session,
        actor=admin.username,
        code=body.code,
        name=body.name,
        categories=body.categories,
        webhook_url=body.webhook_url,
        active=body.active,
        allowlist=_allowlist(request),
    )
    await session.commit()
    return _issued(issued)


@router.get("/{code}", response_model=AgencyRead)
async def read_agency(session: Session, _: CentreStaff, code: str = Code) -> AgencyRead:
    return AgencyRead.model_validate(await agencies.get(session, code))


@router.patch("/{code}", response_model=AgencyRead)
async def update_agency(
    body: AgencyUpdate, request: Request, session: Session, admin: Admin, code: str = Code
) -> AgencyRead:
    agency = await agencies.update_agency(
        session,
        code,
        actor=admin.username,
        changes=body.model_dump(exclude_unset=True),
        allowlist=_allowlist(request),
    )
    await session.commit()
    return AgencyRead.model_validate(agency)


@router.post("/{code}/secret", response_model=AgencyWithSecret)
async def rotate_secret(
    request: Request, session: Session, admin: Admin, code: str = Code
) -> AgencyWithSecret:
    """A new signing secret (shown this once); the previous ones stay valid, and messages are
    signed with them too, for ``webhooks.secret_overlap_hours``."""
    settings: Settings = request.app.state.settings
    issued = await agencies.rotate_secret(
        session, code, actor=admin.username, overlap_hours=settings.webhooks.secret_overlap_hours
    )
    await session.commit()
    return _issued(issued)
