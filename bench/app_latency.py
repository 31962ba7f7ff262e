"""App latency with prompt caching and speculation off, the defaults in a cold process and with a warm disk cache.

Each run is a fresh process (model load included), so "warm" means only the on-disk prompt cache
($EDGESPLIT_HOME/cache/prompts, filled once before the measured rounds) is warm:
  off     EDGESPLIT_PROMPT_CACHE=off and --speculative off, a fresh home (the reference)
  cold    the defaults (cache on, speculative auto: lossless drafting), a fresh home:
          reuse only within the process (tasks on one app share rules + doc)
  warm    the defaults, a home whose disk cache an earlier process filled
  spec    like warm, with --speculative on (auto's drafters asked for by name: the same as warm
          where auto drafts)
Modes are interleaved round by round, so load changes on a shared machine hit them alike.
  agent   per-task latency of the GUI agent (generation + execution, repairs included), median and p95
  health  wall time of `edgesplit health assess FILE --json` (load, import, analysis, model calls)
  ttft    first-token latency of a ~500-token shared prefix: first turn, second turn (same
          process), and the first turn of a new process whose disk cache holds the prefix

    python bench/app_latency.py [--limit 6] [--repeat 2] [--only agent|health|ttft] [--model M] [--json]
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

REPO = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("edgesplit"))
# mode -> (prompt cache, speculative, uses the pre-filled home)
MODES = {"off": ("off", "off", False), "cold": ("on", "auto", False), "warm": ("on", "auto", True),
         "spec": ("on", "on", True)}


def agent_child(limit: int, speculative: str, model: str = "default") -> None:
    """In a child process: run the agent benchmark, print per-task latencies and the cache counters."""
    sys.path.insert(0, str(REPO))
    from apps.gui_agent.bench import run_bench
    from edge import Engine, RuntimeOptions
    from edge.prompt_cache import totals

    t0 = time.perf_counter()
    with Engine.load(model, options=RuntimeOptions(speculative=speculative)) as engine:
        load_s = time.perf_counter() - t0
        report = run_bench(engine, limit=limit)
    s = totals()
    print(json.dumps({"load_s": load_s, "latency_ms": [r["latency_ms"] for r in report["results"]],
                      "success": [r["success"] for r in report["results"]], "reused_tokens": s.reused_tokens,
                      "disk_hits": s.disk_hits, "memory_hits": s.memory_hits}))


PREFIX = "You answer questions about this product manual.\n" + " ".join(
    f"Section {i}: the {w} setting controls the {w} of unit {i}; reset it from the main menu." for i, w in
    enumerate(["speed", "volume", "colour", "timer", "brightness"] * 5))


def ttft_child() -> None:
    """In a child process: TTFT of two turns that share PREFIX (cache per the environment)."""
    from edge import Engine
    from edge.prompt_cache import totals

    with Engine.load("default") as engine:
        out = []
        for q in ("What does section 3 control?", "How do I reset section 7?"):
            r = engine.generate(PREFIX + f"\nQuestion: {q}\nAnswer:", max_tokens=4, temperature=0.0)
            out.append({"ttft_ms": r.timings.ttft_ms, "prompt_tokens": r.prompt_tokens})
    print(json.dumps({"turns": out, "disk_hits": totals().disk_hits}))


def run_ttft(mode: str, home: Path) -> dict:
    p = subprocess.run([sys.executable, __file__, "--child-ttft"], env=_env(mode, home), capture_output=True,
                       text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"ttft child failed ({mode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def bench_ttft(args, tmp: Path) -> dict:
    """Per round: cache off; cache on in a fresh home (fills it); a second process on that home."""
    rows = {"off": [], "on_fresh_home": [], "on_warm_disk": []}
    for i in range(args.repeat):
        home = Path(tempfile.mkdtemp(dir=tmp, prefix=f"ttft{i}-"))
        rows["off"].append(run_ttft("off", Path(tempfile.mkdtemp(dir=tmp))))
        rows["on_fresh_home"].append(run_ttft("on", home))
        rows["on_warm_disk"].append(run_ttft("on", home))
    med = {m: [round(statistics.median(r["turns"][t]["ttft_ms"] for r in v), 1) for t in (0, 1)]
           for m, v in rows.items()}
    return {"load_avg": os.getloadavg()[0], "repeat": args.repeat,
            "prompt_tokens": rows["off"][0]["turns"][0]["prompt_tokens"], "ttft_ms_turn1_turn2": med,
            "second_over_first_turn": round(med["on_fresh_home"][1] / med["on_fresh_home"][0], 3),
            "warm_disk_first_over_cold_first": round(med["on_warm_disk"][0] / med["off"][0], 3),
            "disk_hits_warm": sum(r["disk_hits"] for r in rows["on_warm_disk"])}


def _env(mode: str, home: Path) -> dict:
    env = {**os.environ, "EDGESPLIT_HOME": str(home), "PYTHONPATH": str(REPO)}
    env["EDGESPLIT_PROMPT_CACHE"] = MODES[mode][0] if mode in MODES else mode
    return env


def run_agent(mode: str, home: Path, limit: int, model: str = "default") -> dict:
    p = subprocess.run([sys.executable, __file__, "--child-agent", "--limit", str(limit), "--speculative",
                        MODES[mode][1], "--model", model], env=_env(mode, home), capture_output=True, text=True,
                       check=False)
    if p.returncode != 0:
        raise SystemExit(f"agent child failed ({mode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_health(mode: str, home: Path, file: Path) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([EXE, "health", "assess", str(file), "--json", "--speculative", MODES[mode][1]],
                       env=_env(mode, home),
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"health assess failed ({mode}): {p.stderr[-2000:]}")
    return time.perf_counter() - t0


def _home(mode: str, tmp: Path, warm_home: Path, i: int) -> Path:
    return warm_home if MODES[mode][2] else Path(tempfile.mkdtemp(dir=tmp, prefix=f"{mode}{i}-"))


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def bench(args, tmp: Path) -> dict:
    warm_home = tmp / "warm"
    data = _health_file(tmp)
    if args.only != "health":
        run_agent("warm", warm_home, args.limit, args.model)  # fills the disk cache: not measured
    if args.only != "agent":
        run_health("warm", warm_home, data)
    agent = {m: {"latency_ms": [], "success": [], "disk_hits": 0} for m in MODES}
    health = {m: [] for m in MODES}
    for i in range(args.repeat):
        for mode in MODES:
            if args.only != "health":
                r = run_agent(mode, _home(mode, tmp, warm_home, i), args.limit, args.model)
                agent[mode]["latency_ms"] += r["latency_ms"]
                agent[mode]["success"] += r["success"]
                agent[mode]["disk_hits"] += r["disk_hits"]
            if args.only != "agent":
                health[mode].append(run_health(mode, _home(mode, tmp, warm_home, i), data))
    return summarize(agent, health, args)


def summarize(agent: dict, health: dict, args) -> dict:
    out: dict = {"limit": args.limit, "repeat": args.repeat, "load_avg": os.getloadavg()[0]}
    if args.only != "health":
        out["agent"] = {m: {"median_ms": statistics.median(a["latency_ms"]), "p95_ms": _p95(a["latency_ms"]),
                            "mean_ms": statistics.fmean(a["latency_ms"]),
                            "success_rate": sum(a["success"]) / len(a["success"]), "disk_hits": a["disk_hits"]}
                        for m, a in agent.items()}
        base = out["agent"]["off"]["mean_ms"]
        out["agent_mean_ratio_vs_off"] = {m: round(a["mean_ms"] / base, 3) for m, a in out["agent"].items()}
    if args.only != "agent":
        out["health_s"] = {m: {"median": statistics.median(v), "runs": [round(x, 2) for x in v]}
                           for m, v in health.items()}
        base = out["health_s"]["off"]["median"]
        out["health_ratio_vs_off"] = {m: round(v["median"] / base, 3) for m, v in out["health_s"].items()}
    return out


def _health_file(tmp: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from apps.health import synth_formats
    from apps.health.synth import generate

    history, _ = generate(14, ("illness",), seed=0)
    return synth_formats.WRITERS["csv"](tmp / "days.csv", history)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=6, help="Agent benchmark tasks per run.")
    ap.add_argument("--repeat", type=int, default=2, help="Interleaved rounds.")
    ap.add_argument("--only", choices=("agent", "health", "ttft"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--model", default="default", help="The agent's model: default, a .gguf or a bundle "
                                                        "(ONNX Runtime keeps no disk cache: warm = cold there).")
    ap.add_argument("--child-agent", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--speculative", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--child-ttft", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_agent:
        agent_child(args.limit, args.speculative, args.model)
        return
    if args.child_ttft:
        ttft_child()
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.only == "ttft":
            print(json.dumps(bench_ttft(args, Path(tmp)), indent=1))
            return
        out = bench(args, Path(tmp))
    print(json.dumps(out, indent=1) if args.json else _table(out))


def _table(out: dict) -> str:
    lines = [f"load average {out['load_avg']:.1f}, {out['repeat']} interleaved rounds"]
    for m, a in out.get("agent", {}).items():
        lines.append(f"agent  {m:<6} median {a['median_ms']:8.0f} ms  p95 {a['p95_ms']:8.0f} ms  "
                     f"mean {a['mean_ms']:8.0f} ms  x{out['agent_mean_ratio_vs_off'][m]:.2f}  "
                     f"success {a['success_rate']:.2f}  disk hits {a['disk_hits']}")
    for m, h in out.get("health_s", {}).items():
        lines.append(f"health {m:<6} median {h['median']:6.2f} s  x{out['health_ratio_vs_off'][m]:.2f}  {h['runs']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
