"""Distill the default model for the GUI agent and compare it with the base model on the benchmark.

The issue-20 run: verified synthetic data from the app docs (`agent synth`), a time-bounded full
fine-tune of the default model's dequantized GGUF (`distill`), exports to f32 and q8_0 GGUF and
int4 ONNX (`export`), then `agent bench` on the held-out benchmark tasks for base / f32 / q8_0 /
int4 side by side. Every step runs the real CLI in a subprocess; the commands are printed.

    python bench/distill_agent.py --out /tmp/distill-run --threads 2          # the real run (<= 60 min training)
    python bench/distill_agent.py --out /tmp/d --max-minutes 2 --limit 3      # smoke test
    python bench/distill_agent.py --out /tmp/distill-run --resume --max-minutes 30   # continue training

Writes OUT/report.json (figures per model, the commands, timings) and prints a table.

Measured (2026-12-02, 2 threads on a 2-core EPYC shared with other work: 357 of 480 steps in 60 min,
950 verified examples): success on the 45 held-out tasks base 13.3 %, f32 95.6 %, q8_0 GGUF 93.3 %,
int4 ONNX 91.1 % (blocks of 16, up_proj at 8 bits; 75.6 % at the default block of 32); scripts ran
97.8 % (f32).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("edgesplit")
FIGURES = ("success_rate", "script_ran_rate", "mean_tokens_out", "mean_latency_ms")


def run(cmd: list[str], log: list[dict]) -> str:
    """Run one edgesplit command (stderr shown live); its stdout."""
    print("$ edgesplit " + " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.monotonic()
    proc = subprocess.run([str(EXE), *cmd], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    log.append({"cmd": "edgesplit " + " ".join(cmd), "rc": proc.returncode, "s": round(time.monotonic() - t0, 1)})
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): edgesplit {' '.join(cmd)}")
    return proc.stdout


def _threads(args: argparse.Namespace) -> list[str]:
    return ["-t", str(args.threads)] if args.threads else []


def build(args: argparse.Namespace, out: Path, log: list[dict]) -> dict[str, str]:
    """Data, training and exports; the model path of each variant."""
    data = out / "data.jsonl"
    if not data.is_file():
        run(["agent", "synth", "-o", str(data), "--per-family", str(args.per_family), "--multi", str(args.multi),
             "--seed", str(args.seed), "--json"], log)
    ckpt = out / "distilled"
    train = ["distill", str(data), str(ckpt), "--max-minutes", str(args.max_minutes), "--epochs", str(args.epochs),
             "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--seed", str(args.seed), *_threads(args)]
    run(train + (["--resume"] if args.resume else []), log)
    variants = {"base": "default"}
    for quant in ("f32", "q8_0"):
        bundle = out / f"gguf-{quant}"
        shutil.rmtree(bundle, ignore_errors=True)
        run(["export", "gguf", str(ckpt), str(bundle), "--quant", quant, "--json"], log)
        variants[quant] = str(bundle)
    if not args.no_onnx:
        bundle = out / "onnx-int4"
        shutil.rmtree(bundle, ignore_errors=True)
        run(["export", "onnx", str(ckpt), str(bundle), "--quant", "int4", "--block-size", str(args.int4_block_size),
             *[a for name in args.int4_keep_8bit for a in ("--keep-8bit", name)], "--json"], log)
        variants["int4"] = str(bundle)
    return variants


def table(names: list[str], reports: list[dict]) -> str:
    lines = [f"{'':<16}" + "".join(f"{n:>12}" for n in names)]
    for key in FIGURES:
        lines.append(f"{key:<16}" + "".join(f"{r[key]:>12}" for r in reports))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="Working directory (data, checkpoint, bundles, report).")
    p.add_argument("--max-minutes", type=float, default=60.0, help="Training time bound (default 60).")
    p.add_argument("--limit", type=int, default=None, help="Benchmark only N tasks (default: all 45).")
    p.add_argument("--per-family", type=int, default=60)
    p.add_argument("--multi", type=int, default=80)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="Continue training from OUT/distilled/train_state.")
    # measured on the issue-20 run: the default int4 (block 32) kept 75.6 % of tasks vs 95.6 % at f32;
    # blocks of 16 with up_proj at 8 bits kept 91.1 %
    p.add_argument("--int4-block-size", type=int, default=16, help="int4 ONNX block size (default 16).")
    p.add_argument("--int4-keep-8bit", action="append", default=None,
                   help="int4 ONNX: projections also kept at 8 bits (default: up_proj).")
    p.add_argument("--no-onnx", action="store_true", help="Skip the int4 ONNX export and its benchmark.")
    args = p.parse_args()
    args.int4_keep_8bit = args.int4_keep_8bit if args.int4_keep_8bit is not None else ["up_proj"]
    args.out.mkdir(parents=True, exist_ok=True)
    log: list[dict] = []
    variants = build(args, args.out, log)
    bench = ["agent", "bench", "--json", *_threads(args), *(["--limit", str(args.limit)] if args.limit else [])]
    for path in variants.values():
        bench += ["-m", path]
    result = json.loads(run(bench, log))
    names, reports = list(variants), result["reports"]
    train = json.loads((args.out / "distilled" / "distill.json").read_text())
    summary = {"variants": variants, "train": train, "figures": {n: {k: r[k] for k in FIGURES} for n, r in
                                                                  zip(names, reports, strict=True)},
               "comparison": result["comparison"], "commands": log, "tasks": reports[0]["tasks"]}
    (args.out / "report.json").write_text(json.dumps({**summary, "reports": reports}, indent=1))
    print(f"training: {train['steps']} steps ({train['stopped']}) on {train['examples']} examples in "
          f"{train['elapsed_s']} s, loss {train['first_loss']} -> {train['final_loss']}")
    print(f"benchmark: {reports[0]['tasks']} tasks\n" + table(names, reports))


if __name__ == "__main__":
    main()
