"""Durations as a model writes them, and limits it can read back."""

from __future__ import annotations

import pytest

from shared.errors import InvalidArgument
from shared.rules.timeparse import parse_duration


def test_a_duration_out_of_range_names_its_limits_in_the_units_a_model_writes() -> None:
    with pytest.raises(InvalidArgument, match=r"use at least 1m and at most 30d$"):
        parse_duration("40d", field="window", minimum=60, maximum=30 * 86400)
    with pytest.raises(InvalidArgument, match=r"use at least 1\.5s$"):
        parse_duration("1s", field="x", minimum=1.5)
