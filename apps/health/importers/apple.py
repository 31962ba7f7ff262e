"""Apple Health: `export.zip` (member `apple_health_export/export.xml`) or `export.xml`.

Stream-parsed with expat (the parser under ElementTree's iterparse): handlers see one element at
a time and no tree is ever built, so memory stays flat on exports of hundreds of MB, and every
warning names its line. Root `HealthData`; `Me` holds the date of birth; each `Record` has type,
sourceName, unit, startDate, endDate, value, with dates like `2021-12-11 18:04:47 -0700`.
Values are assigned to the local day of the record's own offset. Steps and energy from an iPhone
and a Watch are deduplicated by time overlap (see `accumulate.MinuteSeries`), never summed.
Hostile files are bounded (`limits`): a DTD that declares entities (billion laughs, external
entities) is refused, as is one token over `MAX_TOKEN` bytes; records longer than their type can
be are skipped with a warning; the accumulators share one memory budget.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING
from xml.parsers import expat

from ..errors import HealthImportError
from ..schema import RANGES, DayRecord, ImportResult
from .accumulate import MinuteSeries, Readings, SleepNights, build_days, fill_sleep
from .limits import Budget, check_member, check_output, check_span

if TYPE_CHECKING:
    from . import Probe

FORMAT = "apple"
CHUNK = 1 << 20
MAX_TOKEN = 16 << 20  # bytes between two elements: a Record is ~300 bytes, a DTD ~10 KB
MAX_NAME = 200  # characters of a sourceName searched for an owner's name
# (metric, unit -> factor); cumulative metrics are spread over minutes and deduplicated
CUMULATIVE = {
    "HKQuantityTypeIdentifierStepCount": ("steps", {"count": 1.0}),
    "HKQuantityTypeIdentifierActiveEnergyBurned": ("active_kcal", {"kcal": 1.0, "Cal": 1.0, "kJ": 1 / 4.184}),
}
READINGS = {
    "HKQuantityTypeIdentifierRestingHeartRate": ("resting_hr", {"count/min": 1.0}),
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": ("hrv_ms", {"ms": 1.0}),
    "HKQuantityTypeIdentifierOxygenSaturation": ("spo2_pct", {"%": 100.0}),
}
SLEEP_TYPE = "HKCategoryTypeIdentifierSleepAnalysis"
SLEEP_VALUES = {
    "HKCategoryValueSleepAnalysisInBed": "in_bed", "HKCategoryValueSleepAnalysisAsleep": "unspecified",
    "HKCategoryValueSleepAnalysisAsleepUnspecified": "unspecified", "HKCategoryValueSleepAnalysisAsleepCore": "light",
    "HKCategoryValueSleepAnalysisAsleepDeep": "deep", "HKCategoryValueSleepAnalysisAsleepREM": "rem",
    "HKCategoryValueSleepAnalysisAwake": "awake",
}
# types real exports carry that we do not use: skipped quietly (anything else gets a warning)
KNOWN_UNUSED = {f"HKQuantityTypeIdentifier{n}" for n in (
    "HeartRate", "BasalEnergyBurned", "DistanceWalkingRunning", "FlightsClimbed", "AppleExerciseTime",
    "AppleStandTime", "BodyMass", "Height", "WalkingSpeed", "WalkingStepLength", "RespiratoryRate",
    "HeadphoneAudioExposure", "EnvironmentalAudioExposure", "WalkingHeartRateAverage", "VO2Max",
    "DistanceCycling", "WalkingDoubleSupportPercentage", "WalkingAsymmetryPercentage", "AppleWalkingSteadiness",
    "StairAscentSpeed", "StairDescentSpeed", "SixMinuteWalkTestDistance", "DietaryWater", "BodyMassIndex",
    "AppleSleepingWristTemperature", "PhysicalEffort", "TimeInDaylight", "DietaryEnergyConsumed")} | {
    "HKCategoryTypeIdentifierAppleStandHour", "HKCategoryTypeIdentifierMindfulSession",
    "HKCategoryTypeIdentifierHandwashingEvent", "HKCategoryTypeIdentifierAudioExposureEvent",
    "HKCategoryTypeIdentifierHighHeartRateEvent", "HKCategoryTypeIdentifierLowHeartRateEvent",
    "HKDataTypeSleepDurationGoal"}
OWNER = [re.compile(r"^(?P<name>[^\W\d_][\w\- ]*?)[’'`]s\b"), re.compile(r"\b(?:von|de|di|du)\s+(?P<name>[^\W\d_]+)$")]


def detect(probe: Probe) -> bool:
    if probe.names:
        return any(n.endswith("export.xml") for n in probe.names)
    return probe.suffix == ".xml" and b"HealthData" in probe.head


def parse_date(text: str) -> datetime:
    """`2021-12-11 18:04:47 -0700` -> the wall-clock time in that offset (naive, local)."""
    return datetime.fromisoformat(text[:19])


def device_kind(source_name: str) -> str:
    low = source_name.lower()
    for key, kind in (("watch", "watch"), ("iphone", "phone"), ("ipad", "tablet"), ("ring", "ring")):
        if key in low:
            return kind
    return "app"


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.result = ImportResult(FORMAT, [])
        self.budget = Budget()
        self.cumulative = {m: MinuteSeries(m, self.budget) for m, _ in CUMULATIVE.values()}
        self.readings = {m: Readings(self.budget) for m, _ in READINGS.values()}
        self.sleep = SleepNights(self.budget)
        self.unknown: Counter[str] = Counter()
        self.parser = expat.ParserCreate()
        self.parser.StartElementHandler = self.start
        self.parser.EntityDeclHandler = self.entity
        self.last_event = 0  # byte index of the last element seen

    def entity(self, name: str, *_: object) -> None:
        # real exports declare no entities; expanding them is how billion-laughs files blow up
        raise HealthImportError(f"{self.file}:{self.parser.CurrentLineNumber}: the XML declares an entity "
                                f"({name!r}); Apple Health exports never do, so this file is not one")

    def warn(self, message: str, line: int | None = None) -> None:
        self.result.warn(message, self.file, line)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.last_event = self.parser.CurrentByteIndex
        if tag == "Record":
            self.record(attrs)
        elif tag == "Me":
            dob = attrs.get("HKCharacteristicTypeIdentifierDateOfBirth")
            if dob:
                self.result.private.dates_of_birth.add(dob)

    def record(self, a: dict[str, str]) -> None:
        kind, line = a.get("type", ""), self.parser.CurrentLineNumber
        self.result.records += 1
        if kind in CUMULATIVE or kind in READINGS or kind == SLEEP_TYPE:
            try:
                self.known(kind, a)
            except (KeyError, ValueError, OverflowError) as exc:
                self.result.skipped += 1
                self.warn(f"{kind.removeprefix('HKQuantityTypeIdentifier')} record skipped: {exc}", line)
            return
        self.result.skipped += 1
        if kind not in KNOWN_UNUSED:
            if not self.unknown[kind]:
                self.warn(f"unknown record type {kind!r} skipped (edgesplit health does not read it)", line)
            self.unknown[kind] += 1

    def known(self, kind: str, a: dict[str, str]) -> None:
        src = self.source(a.get("sourceName", "unknown"))
        start, end = parse_date(a["startDate"]), parse_date(a["endDate"])
        if kind == SLEEP_TYPE:
            check_span("sleep", start, end)
            stage = SLEEP_VALUES.get(a.get("value", ""))
            if stage is None:
                raise ValueError(f"unknown sleep value {a.get('value')!r}")
            self.sleep.add((end + timedelta(hours=6)).date(), src, stage, (end - start).total_seconds() / 60)
            return
        metric, units = CUMULATIVE.get(kind) or READINGS[kind]
        unit = a.get("unit", "")
        if unit not in units:
            raise ValueError(f"unit {unit!r} is not one of {', '.join(units)}")
        value = float(a["value"]) * units[unit]
        if metric == "spo2_pct" and value > 100:  # some apps write 97 with unit % instead of 0.97
            value /= 100
        lo, hi = RANGES[metric]
        if metric == "resting_hr" and value == 0:
            return  # 0.0 means "not measured"
        if not lo <= value <= hi:
            raise ValueError(f"value {a['value']} {unit} is outside the plausible range {lo:g}-{hi:g}")
        if kind in CUMULATIVE:
            self.cumulative[metric].add(src, start, end, value)
        else:
            check_span("reading", start, end)
            self.readings[metric].add(start.date(), value, src)

    def source(self, name: str) -> str:
        if name not in self.result.private.device_names:
            self.budget.take(len(name) + 200, "device names")
            self.result.private.device_names.add(name)
            for pattern in OWNER:  # on a prefix: the lazy pattern is quadratic in the length
                m = pattern.search(name[:MAX_NAME])
                if m:
                    self.result.private.names.add(m.group("name").strip())
        return name

    def feed(self, stream: IO[bytes]) -> None:
        fed = 0
        try:
            while chunk := stream.read(CHUNK):
                self.parser.Parse(chunk, False)
                fed += len(chunk)
                if fed - self.last_event > MAX_TOKEN:  # expat buffers a token whole: bound it
                    raise HealthImportError(f"{self.file}:{self.parser.CurrentLineNumber}: over {MAX_TOKEN >> 20} "
                                            "MiB without an XML element; not an Apple Health export")
            self.parser.Parse(b"", True)
        except expat.ExpatError as exc:
            line = exc.lineno
            if not self.result.records:
                raise HealthImportError(f"{self.file}:{line}: not a readable Apple Health XML "
                                        f"({expat.ErrorString(exc.code)})") from None
            self.result.partial = True
            self.warn(f"XML is broken here ({expat.ErrorString(exc.code)}); kept the "
                      f"{self.result.records} records before it", line)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            self.result.partial = True
            self.warn(f"the file could not be read to the end ({exc}); kept what was read before it")

    def finish(self) -> ImportResult:
        days: dict[date, DayRecord] = {}

        def day(d: date) -> DayRecord:
            return days.setdefault(d, DayRecord(d.isoformat()))

        label = {n: f"apple_health/{device_kind(n)}" for n in self.result.private.device_names}
        for metric, series in self.cumulative.items():
            for d, (total, src) in series.totals().items():
                value = round(total) if metric == "steps" else round(total, 1)
                day(d).set(metric, value, _relabel(src, label))
        for metric, readings in self.readings.items():
            for d, (mean, src) in readings.means().items():
                day(d).set(metric, round(mean, 1), _relabel(src, label))
                if metric == "hrv_ms":
                    day(d).set("hrv_kind", "SDNN", _relabel(src, label))
        for d, (stages, src) in self.sleep.best().items():
            fill_sleep(day(d), stages, label.get(src, src))
        for kind, n in self.unknown.items():
            if n > 1:
                self.warn(f"{n} records of unknown type {kind!r} skipped in all")
        self.result.days = build_days(days)
        check_output(self.result.days, self.file)
        return self.result


def _relabel(src: str, label: dict[str, str]) -> str:
    # the raw sourceName may hold the owner's name: only the device kind leaves this module
    for raw in sorted(label, key=len, reverse=True):
        src = src.replace(raw, label[raw])
    return src


def read(path: Path, tz: str | None = None) -> ImportResult:
    reader = _Reader(path.name)
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                member = next((n for n in zf.namelist() if n.endswith("export.xml")), None)
                if member is None:
                    raise HealthImportError(f"{path.name} has no export.xml: is it an Apple Health export?")
                reader.file = f"{path.name}/{member}"
                check_member(zf.getinfo(member), path.name)
                with zf.open(member) as stream:
                    reader.feed(stream)
        except zipfile.BadZipFile as exc:
            raise HealthImportError(f"{path.name} is not a readable zip file (corrupt or truncated: {exc}); "
                                    "export it again from the Health app") from None
    else:
        with path.open("rb") as stream:
            reader.feed(stream)
    return reader.finish()
