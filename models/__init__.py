"""The tables. Import from here: ``from models import Ticket, Call``."""

from models.agency import Agency, AgencySecret
from models.aml import AmlPosition
from models.audit import AuditEntry
from models.base import Base
from models.call import Call, CallEvent
from models.dispatch import DeliveryAttempt, Dispatch, DispatchUpdate, OutboxMessage
from models.health import GatewayHeartbeat
from models.people import User
from models.ticket import Ticket
from models.triage import CallerFlag, TriageSettings

__all__ = [
    "Agency",
    "AgencySecret",
    "AmlPosition",
    "AuditEntry",
    "Base",
    "Call",
    "CallEvent",
    "CallerFlag",
    "DeliveryAttempt",
    "Dispatch",
    "DispatchUpdate",
    "GatewayHeartbeat",
    "OutboxMessage",
    "Ticket",
    "TriageSettings",
    "User",
]
