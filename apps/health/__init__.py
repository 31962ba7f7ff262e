"""Private health monitoring from wearable exports, on the local runtime.

    from apps.health import import_file, build_report
    result = import_file("export.zip")              # canonical DayRecords + warnings + private entities
    report = build_report(result, Engine.load())    # baselines, events, predictions, narrative

Uses only the public edge API. Nothing here sends data anywhere; the one way out is a cloud
hook the caller passes to `coach.ask`, and it receives only a redacted, number-free question.
"""

from .importers import detect_format, import_file
from .report import build_report
from .schema import DayRecord, ImportResult, ImportWarning, PrivateEntities

__all__ = ["DayRecord", "ImportResult", "ImportWarning", "PrivateEntities", "build_report", "detect_format",
           "import_file"]
