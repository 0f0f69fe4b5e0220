"""What is in flight, counted per key (shared/frame/inflight.py): the gate's requests and openings per token,
message_wait's waits per agent. A key at zero is gone, a count let go of early is let go of once, and a block
that raises lets go of its count too."""

from __future__ import annotations

import pytest

from shared.frame.inflight import InFlight


def test_a_count_is_held_while_its_block_runs_and_its_key_is_gone_at_zero() -> None:
    waits: InFlight[str] = InFlight()
    with waits.held("ana"), waits.held("ana"), waits.held("bo"):
        assert (waits["ana"], waits["bo"], waits["cy"]) == (2, 1, 0)
        assert waits.full("ana", 2) and not waits.full("ana", 3) and not waits.full("cy", 1)
    assert waits.counts == {}


def test_letting_go_early_counts_once_and_the_block_end_after_it_changes_nothing() -> None:
    opening: InFlight[tuple[str, str]] = InFlight()
    with opening.held(("coordination", "t1")):
        with opening.held(("coordination", "t1")) as let_go:
            let_go()
            let_go()
            assert opening[("coordination", "t1")] == 1
        assert opening[("coordination", "t1")] == 1
    assert opening.counts == {}


def test_a_block_that_raises_lets_go_of_its_count() -> None:
    requests: InFlight[str] = InFlight()
    with pytest.raises(RuntimeError), requests.held("t1"):
        raise RuntimeError("the request failed")
    assert requests.counts == {}
