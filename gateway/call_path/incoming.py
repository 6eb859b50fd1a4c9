"""The FastAGI route ``incoming``: a 112 call asks the gateway for its ticket, queue and priority.

The route parses the AGI variables, hands the arrival to the fact store (bounded: on timeout or a
database error the arrival goes to the spool) and answers with as few ``SET VARIABLE`` commands as
the answer needs: the dialplan already holds the defaults, so a value equal to its default is not
sent. Whatever goes wrong, the route answers (defaults at worst) and never raises.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import phone
from core.names import CallEventKind, DialplanVar, TriageCode
from core.timeutil import utcnow
from gateway.call_path.durable import DurableWrites
from services.calls.facts import CallFact
from services.triage.decide import NORMAL_PRIORITY

log = logging.getLogger(__name__)

ROUTE = "incoming"
# Asterisk unique ids: "<epoch>.<sequence>", optionally prefixed with the system name.
UNIQUEID = re.compile(r"^[A-Za-z0-9_-]{0,32}?-?\d{1,12}\.\d{1,12}$")
# The recording's name the dialplan chose: YYYY/MM/DD/<UNIQUEID>.wav, nothing else.
RECORDING = re.compile(r"^\d{4}/\d{2}/\d{2}/[A-Za-z0-9_-]{0,32}?-?\d{1,12}\.\d{1,12}\.wav$")
_UNKNOWN = {"", "unknown", "<unknown>"}
# AGI values are single lines from Asterisk; anything beyond this is not a real value.
MAX_VALUE = 256
# Bound on reading Asterisk's answers to our commands.
REPLY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Arrival:
    uniqueid: str | None
    caller_raw: str | None
    caller: str | None  # normalised (E.164 where Indonesian), None when unknown or withheld
    fact: CallFact | None  # None: no usable uniqueid, nothing to key a ticket on


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > MAX_VALUE:
        log.warning("AGI variable of %d characters dropped: %.40r...", len(text), text)
        return None
    if text.lower() in _UNKNOWN:
        return None
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:limit] or None


def parse_arrival(headers: Mapping[str, str], queue: str) -> Arrival:
    """The arrival fact from the AGI variables; odd values are dropped with a log line."""
    raw_uniqueid = (headers.get("agi_uniqueid") or "").strip()
    uniqueid = raw_uniqueid if UNIQUEID.match(raw_uniqueid) else None
    caller_raw = _clean(headers.get("agi_callerid"), 80)
    caller = phone.normalise(caller_raw) if caller_raw else None
    recording = (headers.get("agi_arg_1") or "").strip()
    if recording and not RECORDING.match(recording):
        log.warning("AGI uniqueid=%s: recording name refused: %.80r", uniqueid, recording)
        recording = ""
    if uniqueid is None:
        log.warning(
            "AGI session without a usable agi_uniqueid (%.80r): answering defaults", raw_uniqueid
        )
        return Arrival(None, caller_raw, caller, None)
    dialled = _clean(headers.get("agi_dnid"), 32)
    if dialled is None:
        extension = _clean(headers.get("agi_extension"), 32)
        dialled = extension if extension not in (None, "s") else None
    data: dict[str, Any] = {
        "channel": _clean(headers.get("agi_channel"), 128),
        "caller_number": caller,
        "caller_number_raw": caller_raw,
        "caller_name": _clean(headers.get("agi_calleridname"), 80),
        "dialled": dialled,
        "queue": queue,
        "recording_path": recording or None,
    }
    fact = CallFact(CallEventKind.ARRIVED.value, uniqueid, utcnow(), data)
    return Arrival(uniqueid, caller_raw, caller, fact)


def answer_for(arrival: Arrival, ticket: str | None, priority: int, warn: bool) -> dict[str, str]:
    """The variables to set: only those that differ from the dialplan's defaults (the queue is
    always the configured one, which the dialplan already holds)."""
    answer: dict[str, str] = {}
    if ticket:
        answer[DialplanVar.TICKET] = ticket
    if priority != NORMAL_PRIORITY:
        answer[DialplanVar.PRIORITY] = str(int(priority))
    if warn:
        answer[DialplanVar.TRIAGE] = TriageCode.WARN.value
    if (arrival.caller or "") != (arrival.caller_raw or ""):
        answer[DialplanVar.CALLER] = arrival.caller or ""
    return answer


# Values MSet takes as they are: no separator (",", "|"), quote, backslash, "=", space or "$".
_PLAIN = re.compile(r"^[A-Za-z0-9+._-]+$")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "").replace('"', "").replace("\n", "") + '"'


def commands_for(variables: dict[str, str]) -> list[str]:
    """The AGI commands that set ``variables``: all plain values in one ``EXEC MSet`` (one round
    trip to Asterisk), anything else (an empty value) with its own ``SET VARIABLE``. Our values are
    ticket numbers, priority digits, triage codes and normalised numbers, always plain."""
    plain = {n: v for n, v in variables.items() if _PLAIN.match(v)}
    commands = [f"SET VARIABLE {n} {_quote(v)}" for n, v in variables.items() if n not in plain]
    if len(plain) == 1:
        commands += [f"SET VARIABLE {n} {_quote(v)}" for n, v in plain.items()]
    elif plain:
        commands.append("EXEC MSet " + ",".join(f"{n}={v}" for n, v in plain.items()))
    return commands


def variables_of(command: str) -> dict[str, str]:
    """What one command of ``commands_for`` sets (for clients that check our answers)."""
    verb, _, rest = command.partition(" ")
    if verb.upper() == "SET" and rest.upper().startswith("VARIABLE "):
        name, _, value = rest[len("VARIABLE ") :].partition(" ")
        return {name: value.strip('"')}
    if verb.upper() == "EXEC" and rest.upper().startswith("MSET "):
        pairs = (p.partition("=") for p in rest[len("MSet ") :].split(","))
        return {name: value for name, _, value in pairs}
    return {}


async def send_variables(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, variables: dict[str, str]
) -> None:
    """Send the commands that set ``variables`` and read Asterisk's reply to each (all bounded).
    One at a time: Asterisk reads AGI commands through a buffered stream and polls the socket
    between them, so a second command sent before the first reply would wait until more data
    arrives."""
    if not variables:
        return
    try:
        async with asyncio.timeout(REPLY_SECONDS):
            for command in commands_for(variables):
                writer.write(command.encode() + b"\n")
                line = await reader.readline()
                while line.startswith(b"100"):  # "100 Trying..." precedes the real answer
                    line = await reader.readline()
                if not line:
                    return
    except TimeoutError:
        log.warning("Asterisk did not acknowledge %d variables in time", len(variables))


class IncomingRoute:
    """The ``incoming`` route; ``in_flight`` counts sessions a graceful stop waits for."""

    def __init__(self, store: DurableWrites, queue: str, recordings: dict[str, str] | None = None):
        self.store = store
        self.queue = queue
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        # uniqueid -> recording name, for the AMI side (recording length after hangup)
        self.recordings = recordings if recordings is not None else {}

    async def handle(self, request: Any) -> None:
        """The route itself (registered as an ``async def``, as panoramisk needs)."""
        self.in_flight += 1
        self.idle.clear()
        try:
            await self._handle(request)
        except Exception:
            log.exception("AGI incoming failed; the dialplan goes on with its defaults")
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()

    async def _handle(self, request: Any) -> None:
        started = time.perf_counter()
        arrival = parse_arrival(request.headers, self.queue)
        ticket, priority, warn = None, NORMAL_PRIORITY, False
        if arrival.fact is not None:
            recording = arrival.fact.data.get("recording_path")
            if recording and len(self.recordings) < 100_000:
                self.recordings[arrival.fact.uniqueid] = recording
            result = self.store.answer_now(arrival.fact)
            if result is None:
                result = await self.store.record(arrival.fact)
            if result is not None and result.decision is not None:
                ticket = result.ticket_number
                priority, warn = result.decision.priority, result.decision.warn
        variables = answer_for(arrival, ticket, priority, warn)
        await send_variables(request.reader, request.writer, variables)
        log.info(
            "AGI incoming uniqueid=%s ticket=%s priority=%s caller=%s in %.1f ms",
            arrival.uniqueid,
            ticket or "-",
            priority,
            arrival.caller or "unknown",
            (time.perf_counter() - started) * 1000,
        )
