"""Every name shared by Asterisk, the gateway, the database and the API, defined once.

Dialplan variables appear literally in ``asterisk_conf/extensions.conf``; a test checks that the
dialplan and this module agree.
"""

from __future__ import annotations

from enum import StrEnum


class DialplanVar(StrEnum):
    """Channel variables exchanged between the dialplan and the gateway."""

    TICKET = "SIAGA_TICKET"  # ticket number, empty while the gateway could not open one
    QUEUE = "SIAGA_QUEUE"  # queue to join
    PRIORITY = "SIAGA_PRIORITY"  # queue priority (higher is answered first)
    RECORDING = "SIAGA_RECORDING"  # recording file name, relative to the recordings folder
    TRIAGE = "SIAGA_TRIAGE"  # triage decision code (normal, silent_check, warn)
    CALLER = "SIAGA_CALLER"  # caller number as the gateway normalised it
    CALLBACK_TICKET = "SIAGA_CALLBACK_TICKET"  # set on callback channels: the ticket they join
    CALLTAKER = "SIAGA_CALLTAKER"  # callback channels: the call taker's SIP account to connect


# AMI UserEvent the dialplan sends after its talk detection (silent-call step), with the fields
# ``Result`` (a TalkResult), ``Ticket`` (SIAGA_TICKET, maybe empty) and ``QueuePriority`` (the
# SIAGA_PRIORITY the call is queued with); the channel's Uniqueid/Linkedid come with every event.
TRIAGE_USER_EVENT = "SiagaTriage"


class TalkResult(StrEnum):
    """What Asterisk's talk detection heard from the caller before queueing."""

    SPOKE = "spoke"
    DTMF = "dtmf"  # pressed a key
    SILENT = "silent"  # nothing through greeting, prompt and a few seconds: queued at low priority


class TriageCode(StrEnum):
    """Values of SIAGA_TRIAGE the gateway answers (the dialplan plays the warning on ``warn``)."""

    NORMAL = "normal"
    WARN = "warn"


class TicketState(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Classification(StrEnum):
    """How the NTPD procedure classifies a call."""

    EMERGENCY = "emergency"  # "normal": a real report
    INFORMATION = "information"
    PRANK = "prank"
    GHOST = "ghost"  # silent or dropped


class CallOutcome(StrEnum):
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"  # a call taker picked up
    ABANDONED = "abandoned"  # caller hung up while queued
    DROPPED = "dropped"  # caller hung up before reaching the queue (greeting, silent check)
    FAILED = "failed"  # Asterisk could not complete it (no call taker, error)


class CallDirection(StrEnum):
    INBOUND = "inbound"
    CALLBACK = "callback"


class CallEventKind(StrEnum):
    ARRIVED = "arrived"
    QUEUED = "queued"
    RINGING = "ringing"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    COMPLETED = "completed"  # the call taker's conversation ended (talk time known)
    ENDED = "ended"
    RECORDING = "recording"
    TRIAGE = "triage"
    RECONCILED = "reconciled"


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    CALLTAKER = "calltaker"
    AGENCY = "agency"


class Victims(StrEnum):
    NONE = "none"
    COUNT = "count"
    UNKNOWN = "unknown"


class DispatchState(StrEnum):
    PENDING = "pending"  # written, not yet acknowledged by the agency
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"  # the agency closed its part with a report
    CANCELLED = "cancelled"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up: on the dead-letter list until a supervisor redelivers


class StreamEvent(StrEnum):
    """Events on the consoles' live stream."""

    TICKET_OPENED = "ticket.opened"
    TICKET_UPDATED = "ticket.updated"
    CALL_ANSWERED = "call.answered"
    CALL_ENDED = "call.ended"
    DISPATCH_UPDATED = "dispatch.updated"
    QUEUE_UPDATED = "queue.updated"
    DELIVERY_UPDATED = "delivery.updated"  # webhook messages went dead or back in line


class WebhookEvent(StrEnum):
    """The ``type`` of a webhook an agency receives (docs/webhooks.md)."""

    DISPATCH_CREATED = "dispatch.created"
    DISPATCH_UPDATED = "dispatch.updated"  # the agency's own dispatch changed state
    DISPATCH_CANCELLED = "dispatch.cancelled"
    TICKET_UPDATED = "ticket.updated"  # the ticket behind an open dispatch changed
    PING = "ping"  # sent on request to test an endpoint


class FlagKind(StrEnum):
    """``caller_flags.kind``: a prank flag (lowers priority, warns) or a lift ("cleared")."""

    PRANK = "prank"
    CLEARED = "cleared"  # lifts every flag before it; the policy counts only later calls


class FlagSource(StrEnum):
    """Who decided a caller flag: the centre's prank policy or a supervisor's hand."""

    POLICY = "policy"
    MANUAL = "manual"


# The ticket number people see and say on the phone: "T" and the ticket id, at least six digits.
# Python and SQL both build it from here (the consoles take it from the API, never build it).
TICKET_NUMBER_PREFIX = "T"
TICKET_NUMBER_DIGITS = 6


def ticket_number(ticket_id: int) -> str:
    return f"{TICKET_NUMBER_PREFIX}{ticket_id:0{TICKET_NUMBER_DIGITS}d}"


def ticket_number_sql(id_sql: str) -> str:
    """The SQL expression for the ticket number of the id ``id_sql`` (a fixed column name)."""
    return (
        f"'{TICKET_NUMBER_PREFIX}' || lpad(({id_sql})::text, "
        f"greatest({TICKET_NUMBER_DIGITS}, length(({id_sql})::text)), '0')"
    )
