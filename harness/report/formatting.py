"""How the report prints numbers, quantities, times and durations (pure, language-neutral)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

DASH = "—"


def format_number(value: Any) -> str:
    """A measured number as a report prints it: up to 6 significant digits, no float noise."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 1e5:
            return f"{value:.0f}"  # large values read better whole than in e-notation
        return f"{value:.6g}"
    return str(value)


def format_quantity(quantity: Any) -> str:
    """`{"value": 1712.4, "unit": "Mbit/s"}` → `1712.4 Mbit/s`; a dash when absent."""
    if quantity is None:
        return DASH
    if not isinstance(quantity, Mapping):
        return format_number(quantity)
    number = format_number(quantity.get("value"))
    unit = str(quantity.get("unit") or "")
    return f"{number} {unit}" if unit and number != DASH else number


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (UTC when it names no zone), or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: Any) -> str:
    """An ISO 8601 timestamp as `2026-11-28 15:01:02.123 UTC`; unparseable text shown as given."""
    parsed = parse_time(value)
    if parsed is None:
        return str(value) if value else DASH
    return format_datetime(parsed)


def format_datetime(moment: datetime) -> str:
    """A datetime as `2026-11-28 15:01:02.123 UTC`."""
    utc = moment.astimezone(UTC)
    millis = f".{utc.microsecond // 1000:03d}" if utc.microsecond else ""
    return f"{utc:%Y-%m-%d %H:%M:%S}{millis} UTC"


def format_seconds(seconds: float) -> str:
    """`18.3 s`, or `4 min 2 s` from two minutes on."""
    if seconds >= 120:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)} min {rest:.0f} s"
    return f"{seconds:.1f} s"


def format_duration(started: Any, finished: Any) -> str:
    """Seconds between two ISO timestamps, e.g. `18.3 s`; a dash when either is missing."""
    start, end = parse_time(started), parse_time(finished)
    if start is None or end is None:
        return DASH
    return format_seconds((end - start).total_seconds())


def text_or_dash(value: Any) -> str:
    """The value as text, a dash when it is None or empty."""
    return DASH if value is None or value == "" else str(value)
