"""Standard Webhooks signing: secrets, signatures, and the receiver's verification.

A secret is ``whsec_<base64 of 32 random bytes>``; the HMAC key is the decoded bytes. A message is
signed over ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256; the ``webhook-signature``
header carries one ``v1,<base64 signature>`` per valid secret, separated by spaces (several while
a rotation's overlap lasts).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """The message is not authentic, or too old or too new."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a whsec_ base64 secret") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(secret_key(secret), signed, "sha256")).decode()


def headers(
    secrets_: Iterable[str], message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every given secret."""
    ts = int(time.time()) if timestamp is None else timestamp
    signatures = " ".join(sign(s, message_id, ts, body) for s in secrets_)
    return {HEADER_ID: message_id, HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE: signatures}


def verify(
    secret: str,
    headers_: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a received message as a receiver does; return its webhook-id.

    Raises WebhookVerificationError when a header is missing, the timestamp is more than
    ``tolerance`` seconds away from ``now``, or no ``v1`` signature matches (constant-time compare).
    """
    lowered = {k.lower(): v for k, v in headers_.items()}
    try:
        message_id = lowered[HEADER_ID]
        raw_ts = lowered[HEADER_TIMESTAMP]
        signature_header = lowered[HEADER_SIGNATURE]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from exc
    try:
        timestamp = int(raw_ts)
    except ValueError as exc:
        raise WebhookVerificationError("bad webhook-timestamp") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp outside the tolerance")
    expected = sign(secret, message_id, timestamp, body).encode()
    for candidate in signature_header.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return message_id
    raise WebhookVerificationError("no matching signature")
