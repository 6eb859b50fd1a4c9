"""Caller numbers as the carrier sends them, normalised to E.164 where they are Indonesian."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[^\d+]")
# Words carriers and Asterisk use for a number that is not there.
_UNKNOWN = {"", "unknown", "anonymous", "restricted", "private", "withheld", "unavailable"}


def normalise(raw: str | None) -> str | None:
    """Return the E.164 form (``+62...``) of an Indonesian number, the cleaned number otherwise.

    ``None`` means the caller is unknown or withheld (SIM-less phones, CLIR); such calls are still
    tickets, so callers must not treat ``None`` as an error.
    """
    if raw is None:
        return None
    text = raw.strip().strip('"').strip()
    if text.lower() in _UNKNOWN:
        return None
    cleaned = _DIGITS.sub("", text)
    if cleaned.startswith("+"):
        digits = cleaned[1:].replace("+", "")
        return f"+{digits}" if 6 <= len(digits) <= 15 else None
    digits = cleaned.replace("+", "")
    if not digits:
        return None
    if digits.startswith("00"):  # international prefix
        rest = digits[2:]
        return f"+{rest}" if 6 <= len(rest) <= 15 else None
    if digits.startswith("62") and len(digits) >= 9:
        return f"+{digits}"
    if digits.startswith("0") and 8 <= len(digits) <= 14:
        return f"+62{digits[1:]}"
    if digits.startswith("8") and 9 <= len(digits) <= 13:  # mobile number without trunk prefix
        return f"+62{digits}"
    return digits if len(digits) <= 15 else None
