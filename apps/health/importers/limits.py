"""Bounds on what one import may cost: per record, per file, and for the whole output.

A record's work must not grow with what it claims (a 228-byte step record spanning 100 years
once allocated 36,525 day arrays), and the output must not grow without bound either. So:

- `check_span`: a record dated outside `FIRST_DAY..LAST_DAY`, or spanning more than its type can
  (`MAX_SPAN`), is an error in the data: the caller skips it with a counted warning.
- `Budget`: the accumulators charge every day array they allocate to one budget per import; past
  `MAX_BYTES` the import stops with a clear error instead of exhausting memory.
- `check_member`: a zip member over `MAX_MEMBER_BYTES`, or inflating more than `MAX_RATIO` times
  its compressed size (a zip bomb), is refused before it is read.
- `check_output`: at most `MAX_DAYS` calendar days from the first to the last day of data.

The figures are generous for real exports: 40+ years of days, a 4 GiB export.xml, 12 years of
iPhone + Watch steps and energy (~17,500 day arrays, 100 MB) fit inside the budget.
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime, timedelta

from ..errors import HealthImportError
from ..schema import DayRecord

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)  # far from datetime's limits: no overflow
MAX_DAYS = 16_000  # ~44 years from the first to the last day of data
MAX_BYTES = 384 << 20  # accumulator memory for one import
MAX_MEMBER_BYTES = 8 << 30  # one file inside a zip, inflated
MAX_JSON_BYTES = 64 << 20  # one JSON file (parsed whole: ~10x its size in objects)
MAX_RATIO = 200  # real exports inflate 10-40x; deflate bombs ~1000x
#: the longest span a record of each kind can plausibly cover
MAX_SPAN: dict[str, timedelta] = {
    "steps": timedelta(days=2), "active_kcal": timedelta(days=2), "sleep": timedelta(hours=24),
    "reading": timedelta(days=2),
}


def check_day(d: date | datetime) -> None:
    """ValueError for a date outside `FIRST_DAY..LAST_DAY` (0001 and 9999 are not wearable data)."""
    day = d.date() if isinstance(d, datetime) else d
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"date {day.isoformat()} is outside {FIRST_DAY.year}-{LAST_DAY.year}")


def check_span(kind: str, start: datetime, end: datetime) -> None:
    """ValueError for a record outside the date window or longer than `MAX_SPAN[kind]`."""
    check_day(start)
    check_day(end)
    if end < start:
        raise ValueError(f"it ends ({end}) before it starts ({start})")
    if end - start > MAX_SPAN[kind]:
        raise ValueError(f"it spans {end - start}, more than a {kind} record can ({MAX_SPAN[kind]})")


class Budget:
    """The accumulator memory one import may use; `take` raises a clear error past `limit` bytes."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit, self.used = MAX_BYTES if limit is None else limit, 0

    def take(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.used > self.limit:
            raise HealthImportError(f"this export needs more than {self.limit >> 20} MiB to hold its {what}: "
                                    "it is far larger than any real history. Import a shorter period "
                                    "(export a date range), or split the file")


def check_member(info: zipfile.ZipInfo, archive: str, limit: int = MAX_MEMBER_BYTES) -> None:
    """Refuse a zip member that is too large or inflates like a zip bomb, before reading it."""
    if info.file_size > limit:
        raise HealthImportError(f"{archive}: {info.filename} inflates to {info.file_size >> 20} MiB, over the "
                                f"{limit >> 20} MiB limit; import a shorter period")
    if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise HealthImportError(f"{archive}: {info.filename} inflates {info.file_size // max(info.compress_size, 1)}"
                                f"x (over {MAX_RATIO}x): not a real export (a zip bomb?)")


def check_output(days: list[DayRecord], file: str) -> None:
    """At most `MAX_DAYS` calendar days from the first to the last day: the analysis is per day."""
    if not days:
        return
    first, last = date.fromisoformat(days[0].date), date.fromisoformat(days[-1].date)
    if (last - first).days + 1 > MAX_DAYS:
        raise HealthImportError(f"{file} runs from {first} to {last}, over {MAX_DAYS} days: import a "
                                "shorter period (most wearable histories are under 15 years)")
