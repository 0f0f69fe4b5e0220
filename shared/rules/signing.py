"""HMAC-SHA256 signatures over a canonical encoding of a message, so receivers can verify the sender
held the team secret (ROUNDTABLE_SECRET) and nothing was altered in the database."""

from __future__ import annotations

import hashlib
import hmac
import json


def canonical(*, sender: str, audience: str, subject: str, body: str, created_at: float) -> bytes:
    """The bytes a signature covers: sender, recipients, subject, body and time, in a fixed encoding."""
    fields = {
        "audience": audience,
        "body": body,
        "created_at": repr(float(created_at)),
        "sender": sender,
        "subject": subject,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def verify(secret: str | None, payload: bytes, signature: str | None) -> bool | None:
    """True/False when a secret is configured (unsigned rows fail); None when there is no secret."""
    if secret is None:
        return None
    return signature is not None and hmac.compare_digest(sign(secret, payload), signature)
