"""What is in flight now, counted per key: the HTTP gate's requests and session openings per token and server
(shared/frame/http.py), message_wait's waits per agent (servers/messaging/mail.py).

    if waits.full(agent_id, limit):
        refuse
    with waits.held(agent_id):
        wait

A key whose count falls to zero is dropped, so the table holds only what is in flight. Counting and checking
run on the event loop with no await between them, so the check and the count that follows it are one step.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class InFlight(Generic[K]):
    """Per key, how many are in flight now."""

    def __init__(self) -> None:
        self.counts: dict[K, int] = {}

    def __getitem__(self, key: K) -> int:
        return self.counts.get(key, 0)

    def full(self, key: K, limit: int) -> bool:
        """Whether `key` already has `limit` in flight (or more), so one more would be past it."""
        return self[key] >= limit

    @contextmanager
    def held(self, key: K) -> Iterator[Callable[[], None]]:
        """Count one for `key` while the block runs; what it yields lets go of the count before the block ends
        (once: letting go again, or the block's end after it, changes nothing)."""
        self.counts[key] = self[key] + 1
        held = True

        def let_go() -> None:
            nonlocal held
            if held:
                held = False
                left = self.counts[key] - 1
                if left:
                    self.counts[key] = left
                else:
                    del self.counts[key]

        try:
            yield let_go
        finally:
            let_go()
