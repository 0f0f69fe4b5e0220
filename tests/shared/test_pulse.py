"""The time presence is judged as of (shared/rules/pulse.py): now while this process's heartbeats land on time;
its last heartbeat while the next is overdue; its last before a gap for one presence timeout after it."""

from __future__ import annotations

from shared.rules.pulse import Pulse


def test_presence_is_judged_now_while_heartbeats_land_on_time() -> None:
    pulse = Pulse(interval=10, timeout=30)
    assert pulse.judged_at(5) == 5  # no heartbeat yet
    for t in (0, 10, 20, 31):  # one a little late is not a gap
        pulse.beat(t, t + 0.5)
    assert pulse.judged_at(35) == 35


def test_an_overdue_heartbeat_holds_judgement_at_the_last_one_then_gives_the_team_a_timeout() -> None:
    pulse = Pulse(interval=10, timeout=30)
    pulse.beat(100, 100)
    assert pulse.judged_at(125) == 100  # asleep since 100, or kept from writing: nobody is judged past it
    pulse.beat(190, 191)  # a heartbeat lands again after the gap
    assert pulse.judged_at(195) == 100
    for t in (200, 210):
        pulse.beat(t, t)
    assert pulse.judged_at(220) == 100
    assert pulse.judged_at(222) == 222  # everyone live before the gap had the presence timeout to heartbeat


def test_a_clock_set_back_is_judged_at_its_own_time() -> None:
    pulse = Pulse(interval=10, timeout=30)
    pulse.beat(1000, 1000)
    assert pulse.judged_at(400) == 400
