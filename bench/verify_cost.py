"""What a speculative verifier pass costs on this machine, and whether its rows are one-token rows.

For a cached prefix of P tokens and a pass of k more tokens in one llama_decode (the shape of a
draft check), it reports:
  cost   the pass's time over a one-token pass's (medians, interleaved rounds); drafting can
         only pay where this grows well below k (E accepted tokens per pass > cost)
  diff   the largest logit difference between the pass's last row and the same position reached
         by k one-token passes. Above 0, batched verification cannot keep greedy output bit-exact
         (`speculative = "auto"` needs that: edge/backends/llamacpp_spec.py); 0 is necessary, not
         sufficient (only the last row is compared: `edgesplit bench --speculative` compares outputs)
Only the last row's logits are computed, so a verifier (logits for every row) costs a little more
on llama.cpp (ONNX Runtime computes every row either way).

    python bench/verify_cost.py [--model default] [--threads 2] [--prefix 64,300,700] [--k 2,4,8]
                                [--rounds 5] [--flash-attn on|off]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge import Engine, RuntimeOptions  # noqa: E402

SHIFT = 16  # tokens between the passes of two rounds
TEXT = " ".join(f"Step {i}: check the {w} valve and write down its pressure." for i, w in
                enumerate(["red", "blue", "old", "new", "left", "right"] * 40))


def _pass_s(engine: Engine, ids: list[int], p: int, k: int, r: int) -> float:
    """One pass of k tokens on the cached prefix ids[:p]; round r takes other tokens, so no backend
    can serve the pass from a prompt it kept (ONNX Runtime keeps several prefixes per model)."""
    engine.next_token_logits(ids[:p])  # the cache now holds ids[:p]
    tail = ids[p + SHIFT * r: p + SHIFT * r + k]
    t0 = time.perf_counter()
    engine.next_token_logits(ids[:p] + tail)  # feeds k tokens in one pass
    return time.perf_counter() - t0


def _row_diff(engine: Engine, ids: list[int], p: int, k: int) -> float:
    engine.next_token_logits(ids[:p])
    batched = engine.next_token_logits(ids[:p + k])
    engine.next_token_logits(ids[:p])
    one = None
    for j in range(1, k + 1):  # each call feeds one token on the cached prefix
        one = engine.next_token_logits(ids[:p + j])
    return float(np.abs(batched - one).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default", help="a model name, GGUF file or ONNX bundle")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefix", default="64,300,700")
    ap.add_argument("--k", default="2,4,8")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--flash-attn", choices=("on", "off"), default="on")
    args = ap.parse_args()
    prefixes, ks = [int(x) for x in args.prefix.split(",")], [int(x) for x in args.k.split(",")]
    options = RuntimeOptions(n_threads=args.threads, speculative="off", prompt_cache="off",
                             flash_attn=args.flash_attn == "on")
    with Engine.load(args.model, options=options) as engine:
        ids = engine.encode(TEXT)
        if len(ids) < max(prefixes) + SHIFT * args.rounds + max(ks):
            raise SystemExit(f"the text has {len(ids)} tokens; use shorter --prefix")
        print(f"{args.model} on {engine.backend_name}, threads {args.threads}, flash attention {args.flash_attn} "
              f"(llama.cpp), {args.rounds} rounds")
        print(f"{'prefix':>6} {'k':>3} {'cost':>6} {'diff':>8}")
        for p in prefixes:
            times: dict[int, list[float]] = {k: [] for k in [1, *ks]}
            for r in range(args.rounds):
                for k in times:
                    times[k].append(_pass_s(engine, ids, p, k, r))
            c1 = statistics.median(times[1])
            print(f"{p:>6} {1:>3} {1.0:>6.2f} {'':>8}   (one-token pass {c1 * 1000:.2f} ms)")
            for k in ks:
                print(f"{p:>6} {k:>3} {statistics.median(times[k]) / c1:>6.2f} {_row_diff(engine, ids, p, k):>8.4f}")


if __name__ == "__main__":
    main()
