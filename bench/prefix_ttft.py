"""Second-turn TTFT with a shared ~500-token prefix: does a backend reuse the prompt it has already run?

For each model (default: the fp32 and int4 ONNX bench bundles and the default GGUF), in one process
each, repeated: turn 1 is a chat with a fresh ~500-token system prompt (a new first line each
repetition, so nothing is cached), turn 2 continues that chat (turn 1's answer plus a new
question). Reported: median TTFT of each turn and their ratio (issue 17 target: <= 0.2).

    python bench/prefix_ttft.py [--models M ...] [--repeat 3] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = ("The lighthouse stands on a granite point at the mouth of the harbour. Its keeper logs the weather "
       "every four hours, trims the wick, winds the clockwork that turns the lens, and answers the radio. ")


def _turns(engine, rep: int) -> tuple[float, float, int]:
    system = f"Session {rep}. You answer questions about this notebook.\n" + DOC * 40
    chat = [{"role": "system", "content": system}, {"role": "user", "content": "What does the keeper log?"}]
    while len(engine.tokenize(chat)) > 560:  # ~500 tokens of shared prefix on every tokenizer
        system = system[: int(len(system) * 0.9)]
        chat[0]["content"] = system
    first = engine.generate(chat, temperature=0.0, max_tokens=16)
    chat += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "And the radio?"}]
    second = engine.generate(chat, temperature=0.0, max_tokens=1)
    return first.timings.ttft_ms, second.timings.ttft_ms, first.prompt_tokens


def worker(model: str, threads: int, repeat: int) -> None:
    from edge import Engine, RuntimeOptions

    with Engine.load(model, options=RuntimeOptions(n_threads=threads)) as engine:
        _turns(engine, -1)  # warm-up: first-run allocations are not prompt processing
        rows = [_turns(engine, r) for r in range(repeat)]
    print(json.dumps({"model": model, "prompt_tokens": rows[0][2],
                      "turn1_ttft_ms": statistics.median(r[0] for r in rows),
                      "turn2_ttft_ms": statistics.median(r[1] for r in rows),
                      "ratio": statistics.median(r[1] / r[0] for r in rows)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads == 0:
        from edge.options import physical_cores

        args.threads = physical_cores()
    if args.worker:
        return worker(args.worker, args.threads, args.repeat)
    if args.models is None:
        sys.path.insert(0, str(REPO / "bench"))
        from onnx_decode import ensure_bundle

        args.models = [str(ensure_bundle("fp32")), str(ensure_bundle("int4")), "default"]
    rows = []
    for model in args.models:
        cmd = [sys.executable, __file__, "--worker", model, "--threads", str(args.threads), "--repeat", str(args.repeat)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps({"threads": args.threads, "load_avg": os.getloadavg(), "rows": rows}))
        return
    print(f"threads {args.threads}, {args.repeat} reps (medians), load average {os.getloadavg()[0]:.1f}")
    print(f"| {'model':<40} | {'prompt':>6} | {'turn 1 ms':>9} | {'turn 2 ms':>9} | {'ratio':>5} |")
    for r in rows:
        print(f"| {Path(r['model']).name:<40} | {r['prompt_tokens']:>6} | {r['turn1_ttft_ms']:>9.0f} | "
              f"{r['turn2_ttft_ms']:>9.0f} | {r['ratio']:>5.2f} |")


if __name__ == "__main__":
    main()
