"""What messaging tools return."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MessagePriority = Literal["low", "normal", "high", "urgent"]


class Receipt(BaseModel):
    agent: str
    read_at: str | None
    acked_at: str | None


class Message(BaseModel):
    id: int
    kind: Literal["direct", "broadcast", "topic", "system"]
    sender: str = Field(description="agent name when sent, or 'system' for notices from the coordination server")
    sender_now: str | None = Field(default=None, description="the sender's name now, when it has changed since")
    to: str = Field(description="recipient names, 'topic:<name>' or '*' (everyone)")
    topic: str | None
    subject: str
    body: str
    priority: MessagePriority
    thread_id: int
    reply_to: int | None
    correlation_id: str | None
    about: str | None = Field(description="what a system notice is about, e.g. 'task 12' or 'proposal 3'")
    created_at: str
    sent: str | None = Field(default=None, description='created_at from now, e.g. "3 min ago"')
    expires_at: str | None
    ack_required: bool
    ack_deadline: str | None
    ack_due: str | None = Field(default=None, description='the ack deadline from now, e.g. "in 10 min"')
    read: bool | None = Field(description="yours; null in your sent messages, where receipts say the recipients'")
    acknowledged: bool | None
    overdue: bool | None = Field(description="ack_required, not acknowledged, and past its deadline")
    verified: bool | None = Field(
        description="signature checked against ROUNDTABLE_SECRET, covering every field and you as a recipient; "
        "null when the team has no secret"
    )
    signature: Literal["full", "legacy"] | None = Field(
        default=None,
        description="full: signed over every field; legacy: signed by an older Roundtable over sender, "
        "recipients, subject, body and time only, so never verified; null: unsigned",
    )
    receipts: list[Receipt] | None = Field(default=None, description="for your sent messages: who read/acked")


class SendResult(BaseModel):
    message: Message
    delivered_to: list[str]
    next_step: str


class Inbox(BaseModel):
    messages: list[Message]
    unread_left: int = Field(description="unread messages for you not in this page")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null when this is the last")


class AckResult(BaseModel):
    acknowledged: list[int]
    already: list[int] = Field(description="ids you had acknowledged before (of the ids given)")
    next_step: str


class Subscriptions(BaseModel):
    patterns: list[str]
    next_step: str


class WaitResult(BaseModel):
    arrived: bool
    messages: list[Message]
    waited_seconds: float
    next_step: str
