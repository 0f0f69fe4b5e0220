"""Who is acting, and when: the one value every store call receives about its caller.

The runtime builds it once per call (`Runtime.actor()`), from the agent this process registered and the
settings that judge presence, rate limits, quotas and signing, so no call site can forget one of them. People
looking through the `roundtable` command get an anonymous observer (`Actor.looking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from shared.config import Limits, Role, Settings


@dataclass(frozen=True)
class Actor:
    """An agent (or a person looking) at one moment, with the settings that judge what it may do."""

    id: str
    name: str
    role: Role = "worker"
    session_id: str = ""
    now: float = 0.0
    presence_timeout: float = 30.0
    idle_after: float = 300.0
    per_minute: int = 60
    secret: str | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)
    judged_at: float | None = None
    """When presence is judged as of, if not `now`: the runtime's Pulse (shared/rules/pulse.py) sets it while
    its process's own heartbeats could not land, so a gap the whole team was in never makes live agents look
    departed."""

    @classmethod
    def of(cls, settings: Settings, *, id: str, name: str, session_id: str = "", now: float = 0.0) -> Actor:
        """The agent `id` acting under `settings` at `now`."""
        return cls(
            id=id,
            name=name,
            role=settings.role,
            session_id=session_id,
            now=now,
            presence_timeout=settings.presence_timeout,
            idle_after=settings.idle_after,
            per_minute=settings.send_rate_per_minute,
            secret=settings.secret,
            limits=settings.limits,
        )

    @classmethod
    def looking(cls, settings: Settings, now: float) -> Actor:
        """A person looking at the team (status, tail, dashboard): no agent, read-only."""
        return replace(cls.of(settings, id="", name="roundtable", now=now), role="observer")

    def at(self, now: float) -> Actor:
        return self._with(now=now, judged_at=None)

    def judged(self, at: float) -> Actor:
        """This actor judging presence as of `at` (shared/rules/pulse.py), its other times still `now`."""
        return self if at >= self.now else self._with(judged_at=at)

    def named(self, name: str) -> Actor:
        return self if name == self.name else self._with(name=name)

    def _with(self, **fields: Any) -> Actor:
        """A copy with these fields (of this class, by name) changed. `dataclasses.replace` re-runs `__init__`, 5 µs;
        copying the fields takes 1 µs, and every call makes several copies."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, **fields)
        return new

    @property
    def live_after(self) -> float:
        """Sessions that heartbeated at or after this time are alive."""
        judged = self.now if self.judged_at is None else min(self.now, self.judged_at)
        return judged - self.presence_timeout

    @property
    def active_after(self) -> float:
        """An online agent that acted at or after this time is busy, not idle."""
        return self.now - self.idle_after

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def params(self, **extra: Any) -> dict[str, Any]:
        """The named parameters queries bind: :me, :now, :live_after, :active_after (and `extra`)."""
        return {
            "me": self.id,
            "now": self.now,
            "live_after": self.live_after,
            "active_after": self.active_after,
            **extra,
        }
