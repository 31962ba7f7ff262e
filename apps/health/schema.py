"""The canonical daily record every importer produces, and what an import returns.

One `DayRecord` per calendar day in the wearer's local time. A value that was not measured is
`None` and listed in `missing`; a reading of 0.0 resting heart rate is "not measured", never zero.
`source` names where each value came from by format and device kind (`apple_health/watch`), never
by the device's own name, which often holds the owner's first name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

HrvKind = Literal["SDNN", "RMSSD"]
MAX_WARNINGS = 50

#: the measured fields of a day, in the order the JSON output lists them
METRICS: tuple[str, ...] = (
    "steps", "active_kcal", "resting_hr", "hrv_ms", "hrv_kind", "spo2_pct",
    "sleep_deep_min", "sleep_light_min", "sleep_rem_min", "sleep_asleep_min", "sleep_awake_min",
    "sleep_efficiency", "mood", "fatigue",
)
#: sleep stages summed into `sleep_asleep_min`; "unspecified" covers trackers without stages
SLEEP_STAGES: tuple[str, ...] = ("deep", "light", "rem", "unspecified")

#: plausible ranges; a value outside is an error in the data or its unit, not a reading
RANGES: dict[str, tuple[float, float]] = {
    "steps": (0, 150_000), "active_kcal": (0, 10_000), "resting_hr": (25, 220), "hrv_ms": (1, 400),
    "spo2_pct": (50, 100), "sleep_deep_min": (0, 1440), "sleep_light_min": (0, 1440),
    "sleep_rem_min": (0, 1440), "sleep_asleep_min": (0, 1440), "sleep_awake_min": (0, 1440),
    "sleep_efficiency": (0, 100), "mood": (1, 5), "fatigue": (1, 5),
}


@dataclass
class DayRecord:
    date: str  # ISO date, local to the wearer
    steps: int | None = None
    active_kcal: float | None = None
    resting_hr: float | None = None
    hrv_ms: float | None = None
    hrv_kind: HrvKind | None = None
    spo2_pct: float | None = None
    sleep_deep_min: float | None = None
    sleep_light_min: float | None = None
    sleep_rem_min: float | None = None
    sleep_asleep_min: float | None = None  # total asleep, all stages
    sleep_awake_min: float | None = None
    sleep_efficiency: float | None = None  # percent of time in bed asleep
    mood: int | None = None  # self-reported 1-5
    fatigue: int | None = None  # self-reported 1-5
    source: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [m for m in METRICS if getattr(self, m) is None]

    def set(self, name: str, value: float | int | str | None, source: str) -> None:
        """Set a metric with its source; None leaves the field missing."""
        if value is None:
            return
        setattr(self, name, value)
        self.source[name] = source

    def has_data(self) -> bool:
        return any(getattr(self, m) is not None for m in METRICS if m != "hrv_kind")

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("active_kcal", "resting_hr", "hrv_ms", "spo2_pct", "sleep_efficiency") + tuple(
                f"sleep_{s}_min" for s in ("deep", "light", "rem", "asleep", "awake")):
            if out[key] is not None:
                out[key] = round(float(out[key]), 1)
        out["missing"] = self.missing
        return out


@dataclass
class ImportWarning:
    message: str
    file: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}" if where else self.message


@dataclass
class PrivateEntities:
    """Identifiers found in an export; nothing built from the data may contain them."""

    names: set[str] = field(default_factory=set)  # owner names, e.g. from "Anna's Apple Watch"
    device_names: set[str] = field(default_factory=set)  # raw sourceName values
    dates_of_birth: set[str] = field(default_factory=set)
    other: set[str] = field(default_factory=set)

    def terms(self) -> list[str]:
        """Every private string, longest first (for redaction)."""
        every = self.names | self.device_names | self.dates_of_birth | self.other
        return sorted((t for t in every if t), key=len, reverse=True)

    def to_json(self) -> dict:
        return {k: sorted(v) for k, v in asdict(self).items()}


@dataclass
class ImportResult:
    format: str
    days: list[DayRecord]
    warnings: list[ImportWarning] = field(default_factory=list)
    partial: bool = False  # some of the input could not be read; days hold what could
    private: PrivateEntities = field(default_factory=PrivateEntities)
    records: int = 0
    skipped: int = 0
    warnings_dropped: int = 0  # warnings past MAX_WARNINGS: counted, not kept

    def warn(self, message: str, file: str = "", line: int | None = None) -> None:
        """Keep the first MAX_WARNINGS warnings and count the rest (a bad file can have millions)."""
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(ImportWarning(message, file, line))
        else:
            self.warnings_dropped += 1

    def summary(self) -> dict:
        """What the import did, without private entities (safe to show or send)."""
        return {"format": self.format, "days": len(self.days), "records": self.records,
                "skipped": self.skipped, "partial": self.partial,
                "warnings": [str(w) for w in self.warnings], "warnings_dropped": self.warnings_dropped}
