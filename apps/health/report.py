"""The assessment report: what `health assess` prints and the dashboard draws.

    result = import_file("export.zip")
    report = build_report(result, engine)      # engine=None: numbers and rules only, no model

The report holds no private identifiers: sources are format/device labels, and the private
entities found in the export stay in `ImportResult.private`.
"""

from __future__ import annotations

from datetime import timedelta

from edge import Engine

from . import narrative, predict
from .analysis import SPO2_LOW, WINDOW, Timeline, detect_events
from .coach import recommend
from .schema import ImportResult

RECENT_DAYS = 7  # events ending this close to the last day count as current
CHART_DAYS = 56  # days of records the dashboard draws
LATEST = ("steps", "active_kcal", "resting_hr", "hrv_ms", "spo2_pct", "sleep_asleep_min")


def facts(result: ImportResult) -> tuple[Timeline, dict]:
    """Everything deterministic: period, baselines, latest day, events, data quality, days."""
    tl = Timeline(result.days)
    last = next(d for d in reversed(tl.days) if d is not None)
    report = {
        "period": {"start": tl.first.isoformat(), "end": tl.last.isoformat(), "days": len(tl.dates),
                   "days_with_data": sum(d is not None for d in tl.days),
                   "recent_from": (tl.last - timedelta(days=RECENT_DAYS - 1)).isoformat()},
        "baselines": {m: vars(b) for m, b in tl.baselines().items()},
        "baseline_window_days": WINDOW,
        "thresholds": {"spo2_low_pct": SPO2_LOW},
        "latest": {"date": last.date, **{m: getattr(last, m) for m in LATEST}, "hrv_kind": last.hrv_kind},
        "events": [ev.to_json() for ev in detect_events(tl)],
        "data_quality": result.summary(),
        "days": [_day(d.to_json()) for d in result.days if d.date >= (tl.last - timedelta(days=CHART_DAYS)).isoformat()],
    }
    return tl, report


def _day(d: dict) -> dict:
    d.pop("source", None)
    return d


def build_report(result: ImportResult, engine: Engine | None = None, seed: int = 0) -> dict:
    """The full report; with an engine, predictions, the model's assessment and recommendations."""
    tl, report = facts(result)
    if engine is not None:
        report["predictions"] = predict.to_json(predict.predict(engine, tl, seed=seed))
        assessment = narrative.assess_with_model(engine, report, seed=seed)
    else:
        report["predictions"] = {}
        status = narrative.rule_status(report)
        focus = report["events"][-1]["type"] if report["events"] else "general"
        assessment = {"status": status, "focus": focus, "note": None, "source": "rules"}
    report["assessment"] = assessment
    report["narrative"] = narrative.write_narrative(report, assessment)
    report["recommendations"] = recommend(engine, report, seed=seed)
    return report
