"""Decode speed of edgesplit's Engine against a bare llama-cpp-python loop on the same model.

Same file, threads, context, flash attention, prompt and greedy decoding; the two are run
interleaved, R repetitions each, in one process. Prints a table and the ratio
edgesplit / bare (the foundation issue asks for >= 0.97).

    python bench/engine_overhead.py [--model default] [--repeat 7] [--gen-tokens 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics

from edge import Engine, RuntimeOptions
from edge.bench import bare_llama, bare_loop

PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    opts = RuntimeOptions(n_threads=args.threads)
    engine = Engine.load(args.model, options=opts)
    llm = bare_llama(engine.ref, opts, engine.info.n_ctx)
    ids = engine.tokenize(PROMPT)
    kw = {"temperature": 0.0, "max_tokens": args.gen_tokens}
    engine.generate(PROMPT, **kw)  # warm-up both
    bare_loop(llm, ids, args.gen_tokens)
    ours, bare = [], []
    for _ in range(args.repeat):
        ours.append(engine.generate(PROMPT, **kw).timings.decode_tok_s)
        bare.append(bare_loop(llm, ids, args.gen_tokens))
    res = {
        "model": args.model, "threads": opts.threads, "repeat": args.repeat, "gen_tokens": args.gen_tokens,
        "edgesplit_decode_tok_s": round(statistics.mean(ours), 2), "edgesplit_sd": round(statistics.stdev(ours), 2),
        "bare_decode_tok_s": round(statistics.mean(bare), 2), "bare_sd": round(statistics.stdev(bare), 2),
        "ratio": round(statistics.mean(ours) / statistics.mean(bare), 4),
        "ratio_of_medians": round(statistics.median(ours) / statistics.median(bare), 4),
    }
    if args.json:
        print(json.dumps(res))
        return
    print(f"model {res['model']}, {res['threads']} threads, {args.repeat} interleaved repetitions, "
          f"{args.gen_tokens} tokens")
    print(f"  edgesplit Engine      {res['edgesplit_decode_tok_s']:8.2f} ± {res['edgesplit_sd']:.2f} tok/s")
    print(f"  bare llama-cpp-python {res['bare_decode_tok_s']:8.2f} ± {res['bare_sd']:.2f} tok/s")
    print(f"  ratio edgesplit/bare  {res['ratio']:.4f} (medians {res['ratio_of_medians']:.4f})")


if __name__ == "__main__":
    main()
