"""Time: a weekly diurnal profile and its inverse, so organic arrivals need no thinning; paydays."""

from __future__ import annotations

import calendar
from bisect import bisect_right

# fmt: off
_HOURLY = (0.25, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.8, 1.2, 1.3, 1.4, 1.5, 1.7, 1.6, 1.4, 1.35, 1.4, 1.6, 1.7, 1.6, 1.4, 1.1, 0.8, 0.5)
# fmt: on
_WEEKDAY = (0.95, 0.95, 1.0, 1.0, 1.1, 1.15, 0.85)  # Monday first
DAY = 86400.0
WEEK = 7 * DAY
_MONDAY_SHIFT = 3 * DAY  # the Unix epoch was a Thursday
WARMUP = DAY


def _weekly_profile() -> tuple[list[float], list[float]]:
    raw = [_WEEKDAY[d] * _HOURLY[h] for d in range(7) for h in range(24)]
    mean = sum(raw) / len(raw)
    intensity = [x / mean for x in raw]
    cum = [0.0]
    for x in intensity[:-1]:
        cum.append(cum[-1] + x * 3600.0)
    return intensity, cum


_INTENSITY, _CUM = _weekly_profile()


def warp(t: float) -> float:
    """Expected-arrival clock: seconds of average activity elapsed at epoch time t."""
    w, rem = divmod(t + _MONDAY_SHIFT, WEEK)
    i = int(rem // 3600.0)
    return w * WEEK + _CUM[i] + (rem - i * 3600.0) * _INTENSITY[i]


def unwarp(lam: float) -> float:
    w, rem = divmod(lam, WEEK)
    i = bisect_right(_CUM, rem) - 1
    return w * WEEK + i * 3600.0 + (rem - _CUM[i]) / _INTENSITY[i] - _MONDAY_SHIFT


def payday(year: int, month: int, dom: int) -> int:
    """The day salaries arrive: `dom` (clipped to the month), moved back to Friday at weekends."""
    last = calendar.monthrange(year, month)[1]
    day = min(dom, last)
    wd = calendar.weekday(year, month, day)
    if wd >= 5:
        day -= wd - 4
        if day < 1:
            day += 3  # no Friday before it in this month: pay on the Monday instead
    return day
