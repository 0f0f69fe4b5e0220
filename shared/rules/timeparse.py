"""Durations and moments as a model writes them: "90s", "15m", "2h", "1d", "1h30m", a number of seconds,
or an ISO 8601 time. Errors say which forms are accepted."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.errors import InvalidArgument

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
DURATION_HELP = 'a duration such as "90s", "15m", "2h", "1d", "1h30m" or a number of seconds'


def parse_duration(value: str | float | int, *, field: str, minimum: float = 0, maximum: float | None = None) -> float:
    """Seconds from a duration; refuses values outside [minimum, maximum] with the limits named."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{field} must be {DURATION_HELP}, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _PART.sub("", text) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise InvalidArgument(f"{field}={value!r} is not understood; use {DURATION_HELP}")
    if seconds != seconds or seconds < minimum or (maximum is not None and seconds > maximum):
        upper = f" and at most {spoken(maximum)}" if maximum is not None else ""
        raise InvalidArgument(f"{field}={value!r} is out of range; use at least {spoken(minimum)}{upper}")
    return seconds


def spoken(seconds: float) -> str:
    """A limit as a model would write it: "60s", "15m", "30d" (the largest unit that divides it)."""
    for unit in ("w", "d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def parse_when(value: str | float | int, *, field: str, now: float, max_ahead: float = 366 * 86400) -> float:
    """Unix seconds from an ISO 8601 time (naive means UTC) or a duration from now ("10m")."""
    if isinstance(value, str) and ("-" in value or "T" in value or ":" in value):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgument(
                f"{field}={value!r} is not an ISO 8601 time; use e.g. 2026-05-01T09:00:00Z or {DURATION_HELP} from now"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ts = moment.timestamp()
        if ts > now + max_ahead:
            raise InvalidArgument(f"{field}={value!r} is too far ahead; use a time within {max_ahead / 86400:g} days")
        return ts
    return now + parse_duration(value, field=field, minimum=0, maximum=max_ahead)
