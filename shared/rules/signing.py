"""HMAC-SHA256 signatures over a canonical encoding of a message, so receivers can verify the sender
held the team secret (ROUNDTABLE_SECRET) and nothing was altered in the database.

A "v2:" signature covers every column that decides delivery and meaning: the id (a row copied under a
new id fails), kind, sender id and name, audience and the recipient ids (a recipient row added later
delivers nothing that verifies: the reader must be among the signed recipients), topic, subject, body,
priority, reply/thread, correlation id, acknowledgement and its deadline, the time, expiry and what a
notice is about. A signature without the prefix was written by an older Roundtable over sender,
audience, subject, body and time only: `check` calls it "legacy" and never reports it verified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Literal

V2 = "v2:"
FIELDS = (
    "id",
    "kind",
    "sender_id",
    "sender_name",
    "audience",
    "recipient_ids",
    "topic",
    "subject",
    "body",
    "priority",
    "reply_to",
    "thread_id",
    "correlation_id",
    "ack_required",
    "ack_deadline",
    "created_at",
    "expires_at",
    "ref_type",
    "ref_id",
)
TIMES = frozenset({"ack_deadline", "created_at", "expires_at"})


def canonical_v2(row: Mapping[str, Any]) -> bytes:
    """The bytes a v2 signature covers: every field in FIELDS, times as repr(float), in a fixed encoding."""
    fields = {k: (repr(float(row[k])) if k in TIMES and row[k] is not None else row[k]) for k in FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_v2(secret: str, row: Mapping[str, Any]) -> str:
    return V2 + sign(secret, canonical_v2(row))


Kind = Literal["full", "legacy"]


def check(secret: str | None, row: Any, reader: str) -> tuple[bool | None, Kind | None]:
    """(verified, kind of signature) of a message row as `reader` (an agent id) reads it.

    verified is None without a team secret; True only for an intact v2 signature whose signed recipients
    include the reader (or a broadcast, or the reader's own message). Kind: "full", "legacy" or None.
    """
    signature = row["signature"]
    kind: Kind | None = None if signature is None else ("full" if signature.startswith(V2) else "legacy")
    if secret is None:
        return None, kind
    if signature is None:
        return False, None
    if kind == "legacy":
        return False, kind
    if not hmac.compare_digest(sign_v2(secret, row), signature):
        return False, kind
    recipients = row["recipient_ids"]
    if recipients == "*" or row["sender_id"] == reader:
        return True, kind
    return reader in json.loads(recipients or "[]"), kind


def canonical_v1(*, sender: str, audience: str, subject: str, body: str, created_at: float) -> bytes:
    """The bytes an older (legacy) signature covered: sender, audience, subject, body and time."""
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
