"""A 150 MB synthetic Apple Health export imports in bounded memory (peak RSS and time reported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date

import pytest

from apps.health import synth_formats as sf
from apps.health.synth import generate

# the import runs in a fresh process so its peak RSS is its own, not pytest's
CHILD = """
import json, resource, sys, time
t = time.perf_counter()
from apps.health.importers import import_file
r = import_file(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "days": len(r.days), "records": r.records, "skipped": r.skipped, "partial": r.partial,
                  "steps": {d.date: d.steps for d in r.days}}))
"""
BASELINE = "import json, resource, apps.health.importers; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"


@pytest.mark.slow
def test_150mb_apple_export_in_bounded_memory(tmp_path, artifacts_dir):
    days, _ = generate(400, ("illness", "gap"), seed=1, end=date(2024, 6, 30))
    path = tmp_path / "export.xml"
    t0 = time.perf_counter()
    sf.write_apple(path, days, hr_per_hour=66)  # streamed to disk, never held in memory
    write_s = time.perf_counter() - t0
    size_mb = path.stat().st_size / 2**20
    assert size_mb >= 150
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    base = float(subprocess.run([sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True,
                                env=env).stdout)
    out = json.loads(subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                                    check=True, env=env, timeout=600).stdout)
    figures = {"file_mb": round(size_mb, 1), "write_s": round(write_s, 1), "import_s": round(out["seconds"], 1),
               "peak_rss_mb": round(out["peak_rss_mb"], 1), "interpreter_baseline_mb": round(base, 1),
               "records": out["records"]}
    (artifacts_dir / "health_big_import.json").write_text(json.dumps(figures, indent=1))
    print(f"\n150 MB Apple import: {figures}")
    assert out["days"] == sum(d.present for d in days) and not out["partial"]
    assert out["records"] > 500_000
    truth = {d.date.isoformat(): d.steps for d in days if d.present}
    assert all(abs(out["steps"][k] - v) <= 1 for k, v in truth.items())  # watch and phone never summed
    # bounded: the growth over a bare interpreter is far below the file size
    assert out["peak_rss_mb"] - base < 100, figures
