"""This process's own heartbeats, and the time presence is judged as of.

A session is live while it heartbeated within the presence timeout, and a claim whose holder has no live session
lapses (the sweep returns it to the queue, a claimer takes it over). Judged by the clock alone, a gap that kept
every process from heartbeating — the machine asleep, the clock stepped ahead, the file's write lock held past
the busy timeout by a stopped process — made every agent of the team look departed at once: whichever process
ran first after it took every live agent's claims, counting an attempt against each task. This process was in
that gap too, and its own heartbeats say so. So presence is judged as of its last heartbeat while its next one
is overdue, and, for one presence timeout after a heartbeat landed late, as of its last heartbeat before the
gap: every session live then has that long to heartbeat again. An agent that really left is still judged
departed, later by at most the gap; judging presence earlier never lets two agents hold one task (the take
re-checks the row under the write lock).
"""

from __future__ import annotations

from dataclasses import dataclass

OVERDUE = 2.0
"""A heartbeat is overdue once this many heartbeat intervals passed since the last one landed (one late
round is not a gap)."""


@dataclass
class Pulse:
    interval: float
    """Seconds between this process's heartbeats."""
    timeout: float
    """The presence timeout: how long a session stays live after its last heartbeat."""
    last: float | None = None
    """The heartbeat time this process last wrote, once it committed (None: none yet)."""
    gap: tuple[float, float] | None = None
    """The latest gap: (the heartbeat before it, when a heartbeat landed again)."""

    def beat(self, wrote: float, landed: float) -> None:
        """A heartbeat that wrote `wrote` committed at `landed`."""
        if self.last is not None and landed - self.last > OVERDUE * self.interval:
            self.gap = (self.last, landed)
        self.last = wrote

    def judged_at(self, now: float) -> float:
        """The time presence is judged as of at `now`: now, unless this process is in a gap or just out of one."""
        if self.last is None:
            return now
        if now - self.last > OVERDUE * self.interval:
            return self.last
        if self.gap is not None and now - self.gap[1] < self.timeout:
            return min(now, self.gap[0])
        return now
