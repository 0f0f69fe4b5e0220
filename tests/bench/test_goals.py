"""bench.goals: every goal of issue 17 appears in the summary, measured or with the reason it was not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import goals


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    goals.reset()
    yield
    goals.reset()


def line(text: str, goal_key: str) -> str:
    wanted = next(g.text for g in goals.GOALS if g.key == goal_key)
    return next(row for row in text.splitlines() if wanted in row)


def test_a_measured_goal_shows_its_figure_ratio_and_verdict() -> None:
    goals.record("growth.sends", "6,000/s", 1.2, True)
    goals.record("delivery.p50", "30.00 ms", 2.0, False)
    text = goals.summary({"growth", "delivery"})
    assert "6,000/s" in line(text, "growth.sends") and "| pass" in line(text, "growth.sends")
    assert "| 2.00" in line(text, "delivery.p50") and "FAIL" in line(text, "delivery.p50")
    assert "1 pass, 1 FAIL" in text


def test_no_goal_disappears_when_it_was_not_measured() -> None:
    text = goals.summary({"growth"})
    assert all(g.text in text for g in goals.GOALS)
    assert "left out by --only" in line(text, "claims.mcp16")
    assert "not run (use --full)" in line(text, "growth.flat_1m")
    assert "not measured" in line(text, "growth.ready_p99")  # growth ran, at sizes without 100,000


def test_an_unknown_goal_is_refused() -> None:
    with pytest.raises(KeyError):
        goals.record("latency.nothing", "1 ms", 1.0, True)
