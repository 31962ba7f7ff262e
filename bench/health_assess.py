"""Latency and peak memory of `edgesplit health assess` on 14 days of (synthetic) data.

Reference: the seeds' mobile-health result, a 1B SLM predicting readiness/fatigue/stress/sleep
quality at 0.48 s and 4.31 GB on a phone. Measured here, with the default model (SmolLM2-135M):
  cli       the whole command in a fresh process (model load, import, analysis, 3-4 model calls),
            wall time and the child's peak RSS (from wait4)
  warm      build_report() with an already loaded Engine, in this process
  predict   the PMData-style prediction call alone (the seeds' task), warm

    python bench/health_assess.py [--repeat 3] [--days 14] [--format csv|apple] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEEDS = {"latency_s": 0.48, "peak_rss_gb": 4.31}


def run_cli(file: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one `edgesplit health assess FILE --json` process."""
    exe = Path(sys.executable).with_name("edgesplit")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(exe), "health", "assess", str(file), "--json"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"health assess failed: {proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024 / 1024  # ru_maxrss is KiB on Linux


def warm(file: Path, repeat: int) -> dict:
    from apps.health.analysis import Timeline
    from apps.health.importers import import_file
    from apps.health.predict import predict
    from apps.health.report import build_report
    from edge import Engine

    t0 = time.perf_counter()
    engine = Engine.load("default")
    load_s = time.perf_counter() - t0
    result = import_file(file)
    build_report(result, engine)  # warm-up
    reports, preds = [], []
    for seed in range(repeat):
        t = time.perf_counter()
        build_report(import_file(file), engine, seed=seed + 1)
        reports.append(time.perf_counter() - t)
        t = time.perf_counter()
        predict(engine, Timeline(result.days), seed=seed + 1)
        preds.append(time.perf_counter() - t)
    return {"load_s": round(load_s, 3), "warm_assess_s": round(statistics.median(reports), 3),
            "warm_predict_s": round(statistics.median(preds), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--format", choices=("csv", "apple"), default="csv")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from apps.health import synth_formats
    from apps.health.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        history, _ = generate(args.days, ("illness",), seed=0)
        file = Path(tmp) / ("days.csv" if args.format == "csv" else "export.zip")
        synth_formats.WRITERS[args.format](file, history)
        runs = [run_cli(file) for _ in range(args.repeat)]
        res = {"days": args.days, "format": args.format, "repeat": args.repeat, "cpu_count": os.cpu_count(),
               "cli_latency_s": round(statistics.median(r[0] for r in runs), 3),
               "cli_peak_rss_gb": round(max(r[1] for r in runs), 3), **warm(file, args.repeat), "seeds": SEEDS}
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f"health assess, {res['days']} days ({res['format']}), median of {res['repeat']}:")
    print(f"  CLI end to end   {res['cli_latency_s']:.2f} s   peak RSS {res['cli_peak_rss_gb']:.2f} GB")
    print(f"  model load       {res['load_s']:.2f} s")
    print(f"  warm assess      {res['warm_assess_s']:.2f} s   warm predictions alone {res['warm_predict_s']:.2f} s")
    print(f"  seeds (1B, phone) {SEEDS['latency_s']:.2f} s   {SEEDS['peak_rss_gb']:.2f} GB")


if __name__ == "__main__":
    main()
