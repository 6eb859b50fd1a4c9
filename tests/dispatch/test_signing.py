"""Standard Webhooks signatures: what we send verifies with our own function and with a plain
HMAC computation, and tampering, staleness and rotation behave."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from services.dispatch import signing as webhooks
from services.dispatch.signing import WebhookVerificationError


def plain_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    a, b = webhooks.new_secret(), webhooks.new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 32


def test_headers_verify_with_our_function_and_a_plain_hmac() -> None:
    secret = webhooks.new_secret()
    body = b'{"type":"dispatch.created"}'
    headers = webhooks.headers([secret], "msg_abc", body, timestamp=1_700_000_000)
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == "1700000000"
    version, signature = headers["webhook-signature"].split(",", 1)
    assert version == "v1"
    assert signature == plain_signature(secret, "msg_abc", "1700000000", body)
    assert webhooks.verify(secret, headers, body, now=1_700_000_010) == "msg_abc"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
)
def test_tampered_messages_fail(tamper) -> None:  # type: ignore[no-untyped-def]
    secret = webhooks.new_secret()
    body = b'{"a":1}'
    headers, body2 = tamper(webhooks.headers([secret], "msg_1", body, timestamp=1000), body)
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(secret, headers, body2, now=1000)


def test_a_stale_or_future_timestamp_fails() -> None:
    secret = webhooks.new_secret()
    headers = webhooks.headers([secret], "msg_1", b"{}", timestamp=10_000)
    webhooks.verify(secret, headers, b"{}", now=10_000 + 299)
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(secret, headers, b"{}", now=10_000 + 301)
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(secret, headers, b"{}", now=10_000 - 301)


def test_during_rotation_both_the_old_and_the_new_secret_verify() -> None:
    old, new = webhooks.new_secret(), webhooks.new_secret()
    headers = webhooks.headers([new, old], "msg_1", b"{}", timestamp=5)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert webhooks.verify(old, headers, b"{}", now=5) == "msg_1"
    assert webhooks.verify(new, headers, b"{}", now=5) == "msg_1"
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(webhooks.new_secret(), headers, b"{}", now=5)


def test_the_verification_example_in_the_docs_works() -> None:
    """docs/webhooks.md shows receivers how to verify; that code must accept what we send."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = doc.split("## Verifying a webhook (Python)", 1)[1].split("```python", 1)[1]
    namespace: dict[str, object] = {}
    exec(code.split("```", 1)[0], namespace)  # noqa: S102 - our own documentation
    verify_example = namespace["verify"]
    secret = webhooks.new_secret()
    body = b'{"type":"dispatch.created"}'
    headers = webhooks.headers([webhooks.new_secret(), secret], "msg_9", body)
    assert verify_example(secret, headers, body) == "msg_9"  # type: ignore[operator]
    with pytest.raises(ValueError):
        verify_example(secret, headers, body + b"x")  # type: ignore[operator]
