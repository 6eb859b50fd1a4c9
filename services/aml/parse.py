"""Advanced Mobile Location (AML, ETSI TS 103 625) messages read into one typed position.

A phone that dials 112 sends its position by HTTPS (a form POST) or by SMS. Both forms become an
``AmlMessage``; anything malformed or out of range raises ``AmlRejected`` with a reason a sender's
engineer can act on. Pure: no database, no clock, no I/O.

- HTTPS: ``location_latitude``, ``location_longitude``, ``location_accuracy`` (m),
  ``location_time`` (ms since 1970, UTC), ``location_source`` (gps, wifi, cell, unknown),
  ``location_certainty`` (confidence %), ``device_number``; other fields (``device_imei``,
  ``emergency_number``, ...) stay in the raw text only.
- SMS v1: ``A"ML=1;lt=<lat>;lg=<lon>;rd=<radius m>;top=<yyyyMMddHHmmss UTC>;lc=<confidence %>;
  pm=<G|W|C|U|N>;...``; the number is the SMS's sender.
- SMS v2: ``A"ML=2;...;et=<call time, s since 1970>;lo=<lat>,<lon>,<radius m>;lt=<s after et>;
  lg=<language>;...``: ``lt`` is a time offset and ``lg`` a language here.

A radius of 0 means "unknown" (v2 says so; a 0 m circle is no real fix either).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import parse_qsl

from core.phone import normalise

MAX_TEXT = 2000  # characters of a message: an AML SMS is under 200, an HTTPS form under 1000
MAX_RADIUS_M = 1_000_000.0  # a position less precise than 1,000 km says nothing
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # positioning times outside these are refused
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_DEGREES = re.compile(r"[+-]?\d{1,3}(\.\d{1,12})?")
_METRES = re.compile(r"\d{1,7}(\.\d{1,6})?")
_PERCENT = re.compile(r"\d{1,3}")
_INTEGER = re.compile(r"[+-]?\d{1,13}")
_HEADER = re.compile(r'A"?ML=(\d{1,3})', re.IGNORECASE)


class Via(StrEnum):
    """How the position reached the centre."""

    HTTPS = "https"
    SMS = "sms"


class Method(StrEnum):
    """How the phone found its position (the SMS's ``pm``)."""

    GPS = "G"
    WIFI = "W"
    CELL = "C"
    UNKNOWN = "U"
    NONE = "N"  # no position: such messages are refused (``no-position``)


# HTTPS ``location_source`` values (and the SMS letters themselves) as a Method.
_SOURCES = {
    "gps": Method.GPS,
    "gnss": Method.GPS,
    "wifi": Method.WIFI,
    "cell": Method.CELL,
    "unknown": Method.UNKNOWN,
    "none": Method.NONE,
    **{m.value.lower(): m for m in Method},
}


class AmlRejected(ValueError):
    """A message that cannot be read: ``reason`` is a stable word, ``field`` the culprit."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class AmlMessage:
    via: Via
    number: str  # the phone's number, normalised as caller numbers are (core.phone)
    latitude: float
    longitude: float
    radius_m: float | None  # None: unknown
    positioned_at: datetime | None  # UTC
    confidence: int | None  # percent
    method: Method | None
    raw: str


def parse_https(body: str) -> AmlMessage:
    """An HTTPS AML form body (``application/x-www-form-urlencoded``), as received."""
    _check_text(body)
    try:
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True, max_num_fields=100)
    except ValueError as exc:
        raise AmlRejected("malformed", "not a form body (key=value&...)") from exc
    fields = _unique(pairs)
    latitude = _degrees(fields, "location_latitude", 90)
    longitude = _degrees(fields, "location_longitude", 180)
    method = _method(fields.get("location_source"), "location_source")
    if method is Method.NONE:
        raise AmlRejected("no-position", "the message carries no position", "location_source")
    certainty = "location_certainty" if "location_certainty" in fields else "location_confidence"
    return AmlMessage(
        via=Via.HTTPS,
        number=_number(fields.get("device_number"), "device_number"),
        latitude=latitude,
        longitude=longitude,
        radius_m=_radius(fields.get("location_accuracy"), "location_accuracy"),
        positioned_at=_epoch(fields.get("location_time"), "location_time", per_second=1000),
        confidence=_confidence(fields.get(certainty), certainty),
        method=method,
        raw=body,
    )


def parse_sms(sender: str, text: str) -> AmlMessage:
    """An AML SMS as the operator's SMS gateway forwards it: the sender's number and the text."""
    _check_text(text)
    body = text.strip()
    header = _HEADER.match(body)
    if header is None:
        raise AmlRejected("not-aml", 'the text does not start with A"ML=<version>')
    version = int(header.group(1))
    pairs = []
    for part in body.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise AmlRejected("malformed", f"{part[:20]!r} is not key=value")
        pairs.append((key.strip().lower(), value.strip()))
    fields = _unique(pairs[1:])  # the header is read above
    number = _number(sender, "sender")
    if version == 1:
        return _sms_v1(fields, number, text)
    if version == 2:
        return _sms_v2(fields, number, text)
    raise AmlRejected("unsupported-version", f"AML version {version} is not supported (1, 2)")


def _sms_v1(fields: dict[str, str], number: str, raw: str) -> AmlMessage:
    method = _method(fields.get("pm"), "pm")
    if method is Method.NONE or fields.get("rd", "").upper() == "N":
        raise AmlRejected("no-position", "the message carries no position", "pm")
    return AmlMessage(
        via=Via.SMS,
        number=number,
        latitude=_degrees(fields, "lt", 90),
        longitude=_degrees(fields, "lg", 180),
        radius_m=_radius(fields.get("rd"), "rd"),
        positioned_at=_top(fields.get("top")),
        confidence=_confidence(fields.get("lc"), "lc"),
        method=method,
        raw=raw,
    )


def _sms_v2(fields: dict[str, str], number: str, raw: str) -> AmlMessage:
    method = _method(fields.get("pm"), "pm")
    if method is Method.NONE:
        raise AmlRejected("no-position", "the message carries no position", "pm")
    if "lo" not in fields:
        raise AmlRejected("missing", "lo (latitude,longitude,radius) is missing", "lo")
    parts = [p.strip() for p in fields["lo"].split(",")]
    if len(parts) not in (2, 3):
        raise AmlRejected("malformed", "lo must be latitude,longitude[,radius]", "lo")
    position = {"latitude": parts[0], "longitude": parts[1]}
    call_time = _epoch(fields.get("et"), "et", per_second=1)
    positioned_at = None
    if call_time is not None and fields.get("lt"):
        offset = fields["lt"]
        if not _INTEGER.fullmatch(offset) or abs(int(offset)) > 86400:
            raise AmlRejected("out-of-range", "lt must be whole seconds within a day", "lt")
        positioned_at = _in_range(call_time + timedelta(seconds=int(offset)), "lt")
    return AmlMessage(
        via=Via.SMS,
        number=number,
        latitude=_degrees(position, "latitude", 90, field="lo"),
        longitude=_degrees(position, "longitude", 180, field="lo"),
        radius_m=_radius(parts[2] if len(parts) == 3 else None, "lo"),
        positioned_at=positioned_at,
        confidence=_confidence(fields.get("lc"), "lc"),
        method=method,
        raw=raw,
    )


def _check_text(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise AmlRejected("too-long", f"the message is longer than {MAX_TEXT} characters")
    if "\x00" in text:
        raise AmlRejected("malformed", "the message contains a NUL character")


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise AmlRejected("duplicate", f"{key[:40]} is given twice", key[:40])
        fields[key] = value.strip()
    return fields


def _number(raw: str | None, field: str) -> str:
    number = normalise(raw)
    if number is None:
        raise AmlRejected("missing", "the phone's number is missing or unusable", field)
    return number


def _degrees(fields: dict[str, str], key: str, limit: int, *, field: str | None = None) -> float:
    field = field or key
    value = fields.get(key)
    if not value:
        raise AmlRejected("missing", f"{field} is missing", field)
    if not _DEGREES.fullmatch(value):
        raise AmlRejected("malformed", f"{field} is not a number of degrees", field)
    degrees = float(value)
    if not -limit <= degrees <= limit:
        raise AmlRejected("out-of-range", f"{field} must be between -{limit} and {limit}", field)
    return degrees


def _radius(value: str | None, field: str) -> float | None:
    if value is None or value == "":
        return None
    if not _METRES.fullmatch(value):
        raise AmlRejected("malformed", f"{field}: the radius is not a number of metres", field)
    radius = float(value)
    if radius > MAX_RADIUS_M:
        raise AmlRejected("out-of-range", f"{field}: the radius is over 1,000 km", field)
    return radius or None


def _confidence(value: str | None, field: str) -> int | None:
    if value is None or value == "":
        return None
    if not _PERCENT.fullmatch(value) or int(value) > 100:
        raise AmlRejected("out-of-range", f"{field}: the confidence must be 0-100 %", field)
    return int(value)


def _method(value: str | None, field: str) -> Method | None:
    if value is None or value == "":
        return None
    method = _SOURCES.get(value.lower())
    if method is None:
        raise AmlRejected("malformed", f"{field}: unknown positioning method", field)
    return method


def _epoch(value: str | None, field: str, *, per_second: int) -> datetime | None:
    if value is None or value == "":
        return None
    if not _INTEGER.fullmatch(value):
        raise AmlRejected("malformed", f"{field} is not a whole number", field)
    try:
        at = datetime.fromtimestamp(int(value) / per_second, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise AmlRejected("out-of-range", f"{field} is not a usable time", field) from exc
    return _in_range(at, field)


def _top(value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d{14}", value):
        raise AmlRejected("malformed", "top must be yyyyMMddHHmmss", "top")
    try:
        at = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise AmlRejected("malformed", "top is not a real date and time", "top") from exc
    return _in_range(at, "top")


def _in_range(at: datetime, field: str) -> datetime:
    if not EARLIEST <= at < LATEST:
        raise AmlRejected("out-of-range", f"{field}: the time is not between 2000 and 2100", field)
    return at
