"""When a row of the chat was written, in the words the chat uses for it.

:func:`relative_stamp` is what a row shows beside its author: relative while it is recent
("now", "2 min ago", "1 h ago"), the clock time for earlier today ("14:05"), "yesterday,
14:05", and the date for older days ("12 Mar, 14:05"; "12 Mar 2024" in another year). A time
a little ahead of ours (the host's clock is not ours) is "now". :func:`exact_stamp` is what
hovering says: the day, the date and the time to the second. :func:`clock_stamp` is what a
copied line says ("Sam (14:05): …"): the clock time, with the date when not today.

What a row shows depends on the time now, which the caller passes in: the chat view reads
it from one clock, ticking every :data:`TICK_SECONDS` (aligned to the clock:
:func:`until_next_tick`), and tests pass a fake one. A row's stamp holds each of its values
for one stretch of time and never comes back to an earlier one, so a tick finds the rows
whose stamps changed by comparing their stamps at the last tick with their stamps now.
Times are local, in the words of the app (not the locale's), as elsewhere in the app.
"""

from __future__ import annotations

import math
import time

__all__ = [
    "RELATIVE_HOURS",
    "TICK_SECONDS",
    "clock_stamp",
    "exact_stamp",
    "relative_stamp",
    "until_next_tick",
]

TICK_SECONDS = 30
"""How often the stamps on screen are brought up to date: a stamp is at most this late."""
RELATIVE_HOURS = 3
"""Rows younger than this say how long ago ("2 h ago"); older ones say when ("09:40")."""


def _day(when: time.struct_time) -> tuple[int, int]:
    return when.tm_year, when.tm_yday


def _is_yesterday(then: time.struct_time, now: float) -> bool:
    # A day before today's noon is yesterday, whatever daylight saving time did overnight.
    today = time.localtime(now)
    noon = time.mktime((today.tm_year, today.tm_mon, today.tm_mday, 12, 0, 0, 0, 0, -1))
    return _day(time.localtime(noon - 86_400)) == _day(then)


def relative_stamp(ts: float, now: float) -> str:
    """What a row written at ``ts`` shows at ``now`` (both seconds since the epoch)."""
    ago = now - ts
    if ago < 60:
        return "now"
    if ago < 3600:
        return f"{int(ago // 60)} min ago"
    if ago < RELATIVE_HOURS * 3600:
        return f"{int(ago // 3600)} h ago"
    then = time.localtime(ts)
    today = time.localtime(now)
    if _day(then) == _day(today):
        return time.strftime("%H:%M", then)
    if _is_yesterday(then, now):
        return time.strftime("yesterday, %H:%M", then)
    if then.tm_year == today.tm_year:
        return f"{then.tm_mday} {time.strftime('%b, %H:%M', then)}"
    return f"{then.tm_mday} {time.strftime('%b %Y', then)}"


def exact_stamp(ts: float) -> str:
    """The exact time of ``ts``, with its day and date: "Tuesday 4 March 2025, 14:05:09"."""
    then = time.localtime(ts)
    return time.strftime(f"%A {then.tm_mday} %B %Y, %H:%M:%S", then)


def clock_stamp(ts: float, now: float) -> str:
    """The clock time of ``ts`` ("14:05"), after its date when it is not the day of ``now``
    ("12 Mar, 14:05"; "12 Mar 2024, 14:05" in another year)."""
    then = time.localtime(ts)
    today = time.localtime(now)
    if _day(then) == _day(today):
        return time.strftime("%H:%M", then)
    year = "" if then.tm_year == today.tm_year else " %Y"
    return f"{then.tm_mday} {time.strftime(f'%b{year}, %H:%M', then)}"


def until_next_tick(now: float) -> float:
    """Seconds from ``now`` to the next tick: the next multiple of :data:`TICK_SECONDS` of
    the clock, so that every view ticks at the same moments (never 0: at least a little)."""
    left = TICK_SECONDS - math.fmod(now, TICK_SECONDS)
    return left if left >= 0.001 else float(TICK_SECONDS)
