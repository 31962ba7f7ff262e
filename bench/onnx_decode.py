"""ONNX Runtime decode speed: edgesplit's own loop against optimum's generate and llama.cpp.

Contenders (SmolLM2-135M-Instruct, greedy, the same chat prompt, the same thread count):
  edgesplit-onnx-fp32  the fp32 bundle on edgesplit's ONNX Runtime backend
  optimum-fp32         ORTModelForCausalLM.generate on the same model.onnx (same session options)
  edgesplit-onnx-int4  the int4 bundle on edgesplit's ONNX Runtime backend
  ortgenai-int4        onnxruntime-genai's own generation loop on the int4 bundle's model.onnx (the
                       `export mobile --target ort-genai` kit, intra-op threads set to the same count)
  llamacpp-q4_1        the default Q4_1 GGUF on edgesplit's llama.cpp backend
  *-spin               (--spinning) the edgesplit ONNX contenders again with ort_spinning on:
                       onnxruntime-genai has no spinning key and runs with ORT's default (spinning on)
  *-auto               (--defaults) edgesplit's fp32 ONNX and llama.cpp contenders with speculative =
                       auto, what a user runs: it drafts where greedy output stays the plain loop's
                       (the report says whether the tokens were the same as the plain contender's)
  edgesplit-onnx-{fp32,int4}-traced
                       (--traced) the same bundles exported with --attention traced (optimum's graph;
                       optimum-fp32 then runs on the traced fp32 file, the graph optimum writes itself)
  edgesplit-loop-gqa-int4, ortgenai-gqa-int4
                       (--gqa FOLDER) edgesplit's loop and onnxruntime-genai on a fused-attention
                       (GroupQueryAttention) int4 graph, e.g. onnxruntime-genai's builder output
The report also says which contenders wrote the same greedy tokens as edgesplit's plain loop on
the same bundle (optimum and onnxruntime-genai on the same file should).
Each runs in its own worker process (so peak RSS is its own), loaded once; repetitions are
interleaved (A B C D, A B C D, ...) so machine noise hits every contender alike. Reported: median
TTFT, median decode tok/s, peak RSS, and the ratios issue 17 targets (fp32 >= 1.5x optimum, int4
>= 1.0x onnxruntime-genai and >= 0.8x llama.cpp, ONNX TTFT <= 2x llama.cpp's).

    python bench/onnx_decode.py [--fp32 BUNDLE] [--int4 BUNDLE] [--repeat 5] [--gen-tokens 64] [--json]
                                [--spinning] [--defaults] [--traced] [--gqa FOLDER] [--only A,B,...]

Bundles not given are exported once from the default GGUF into .cache/bench-onnx/ (fused attention,
the export's default for SmolLM2; --traced adds traced ones).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper who finds a message in a "
                                      "bottle during a winter storm, and what she does next."}]
CONTENDERS = ("edgesplit-onnx-fp32", "optimum-fp32", "edgesplit-onnx-int4", "ortgenai-int4", "llamacpp-q4_1")
TRACED = "-traced"  # suffix: the same contender on a bundle exported with --attention traced
SPIN = "-spin"  # suffix: the same edgesplit contender with RuntimeOptions.ort_spinning on
AUTO = "-auto"  # suffix: the same edgesplit contender with speculative = "auto" (the default)
# another runtime's contender -> edgesplit's plain contender it shares a model file with
SAME_FILE = {"optimum-fp32": "edgesplit-onnx-fp32", "ortgenai-int4": "edgesplit-onnx-int4"}


def _peak_rss_mb() -> float:
    """This process's peak RSS; VmHWM, because ru_maxrss keeps the parent's peak across fork+exec."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _edge_runner(model: str, threads: int, n: int, spinning: bool = False, speculative: str = "off"):
    """A run() for an edgesplit backend: exactly n greedy tokens (EOS ignored) through the Engine."""
    from edge import Engine, RuntimeOptions
    from edge.sampling import SamplingParams

    # off: the decode loops themselves, as optimum's and onnxruntime-genai's; auto: what users run
    options = RuntimeOptions(n_threads=threads, ort_spinning=spinning, speculative=speculative)
    engine = Engine.load(model, options=options)
    ids, params = engine.tokenize(PROMPT), SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True)

    def run() -> tuple[list[float], list[int]]:
        r = engine.generate(ids, params=params)
        t = r.timings  # per-token stamps from the Engine's own clock
        first = t.ttft_ms / 1000
        return [0.0, first, *[first + s for s in itertools.accumulate(t.itl_s)]], r.token_ids

    return run, len(ids)


def _optimum_runner(bundle: str, threads: int, n: int):
    """A run() for optimum's ORTModelForCausalLM.generate, timed per token with a streamer."""
    import torch
    from optimum.onnxruntime import ORTModelForCausalLM
    from transformers.generation.streamers import BaseStreamer

    from edge import Engine
    from edge.runtimes.onnxrt import session_options

    so = session_options(threads=threads)  # the same as edgesplit's session
    model = ORTModelForCausalLM.from_pretrained(bundle, use_cache=True, provider="CPUExecutionProvider",
                                                session_options=so)
    with Engine.load(bundle) as e:  # the same prompt ids as edgesplit's run
        ids = e.tokenize(PROMPT)
    stamps: list[float] = []
    tokens: list[int] = []

    class Clock(BaseStreamer):
        def put(self, value) -> None:
            stamps.append(time.perf_counter())
            tokens.extend(value.flatten().tolist())

        def end(self) -> None:
            pass

    def run() -> tuple[list[float], list[int]]:
        stamps.clear()
        tokens.clear()
        t0 = time.perf_counter()
        model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                       max_new_tokens=n, min_new_tokens=n, do_sample=False, streamer=Clock())
        return [t0, *stamps[1:]], tokens[len(ids):]  # the first put() is the prompt

    return run, len(ids)


def _ortgenai_runner(bundle: str, threads: int, n: int):
    """A run() for onnxruntime-genai's generator over the bundle's own model.onnx (its mobile kit)."""
    from edge import Engine
    from export.mobile.kit import export_kits

    kit = REPO / ".cache" / "bench-onnx" / (Path(bundle).name + "-kits")
    if not (kit / "ort-genai" / "genai_config.json").is_file():
        export_kits(bundle, kit, ["ort-genai"], overwrite=True)
    with Engine.load(bundle) as e:
        ids = e.tokenize(PROMPT)
    return _genai_folder_runner(kit / "ort-genai", threads, n, ids), len(ids)


def _genai_folder_runner(folder: Path, threads: int, n: int, ids: list[int]):
    """A run() for onnxruntime-genai's generator over an ort-genai folder (intra-op threads set to `threads`)."""
    import onnxruntime_genai as og

    cfg_path = folder / "genai_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model"]["decoder"]["session_options"]["intra_op_num_threads"] = threads  # the same as the others
    cfg_path.write_text(json.dumps(cfg, indent=2))
    model = og.Model(str(folder))

    def run() -> tuple[list[float], list[int]]:
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + n, min_length=len(ids) + n, do_sample=False)
        t0 = time.perf_counter()
        gen = og.Generator(model, params)
        gen.append_tokens(ids)  # the prefill; its logits give the first token
        stamps, tokens = [t0], []
        while not gen.is_done() and len(stamps) <= n:
            gen.generate_next_token()
            stamps.append(time.perf_counter())
            tokens.append(int(gen.get_next_tokens()[0]))
        return stamps, tokens

    return run


def _gqa_ids(spec: str) -> tuple[Path, list[int]]:
    """`FOLDER::BUNDLE`: the fused-attention folder, and the prompt ids as the bundle tokenizes them."""
    from edge import Engine

    folder, bundle = spec.split("::")
    with Engine.load(bundle) as e:
        return Path(folder), e.tokenize(PROMPT)


def _gqa_genai_runner(spec: str, threads: int, n: int):
    folder, ids = _gqa_ids(spec)
    return _genai_folder_runner(folder, threads, n, ids), len(ids)


def _gqa_loop_runner(spec: str, threads: int, n: int, spinning: bool = False):
    """edgesplit's decode loop (CausalLM, greedy argmax; the Engine around it adds ~0.5 ms/token) on a
    fused-attention folder, which is no bundle yet: no manifest for Engine.load."""
    import numpy as np

    from edge.backends.onnxruntime import CausalLM
    from edge.options import RuntimeOptions

    folder, ids = _gqa_ids(spec)
    model = CausalLM(folder, RuntimeOptions(n_threads=threads, ort_spinning=spinning))

    def run() -> tuple[list[float], list[int]]:
        model.cache.clear()  # every rep pays its prefill, as the genai generator does
        t0 = time.perf_counter()
        logits, stamps, tokens = model.start(ids), [t0], []
        for _ in range(n):
            token = int(np.argmax(logits))
            stamps.append(time.perf_counter())
            tokens.append(token)
            logits = model.step(token)
        return stamps, tokens

    return run, len(ids)


# ratio name -> (numerator contender, denominator contender); TTFT ratios divide first-token times
RATIOS = {"fp32 edgesplit / optimum (target >= 1.5)": ("edgesplit-onnx-fp32", "optimum-fp32"),
          "int4 edgesplit / onnxruntime-genai (target >= 1.0)": ("edgesplit-onnx-int4", "ortgenai-int4"),
          "int4 edgesplit / llama.cpp Q4_1 (target >= 0.8)": ("edgesplit-onnx-int4", "llamacpp-q4_1"),
          "TTFT int4 edgesplit / llama.cpp (target <= 2)": ("edgesplit-onnx-int4", "llamacpp-q4_1"),
          "TTFT fp32 edgesplit / llama.cpp (target <= 2)": ("edgesplit-onnx-fp32", "llamacpp-q4_1"),
          "fp32 edgesplit spinning / optimum": ("edgesplit-onnx-fp32-spin", "optimum-fp32"),
          "int4 edgesplit spinning / onnxruntime-genai": ("edgesplit-onnx-int4-spin", "ortgenai-int4"),
          "int4 edgesplit spinning / llama.cpp Q4_1": ("edgesplit-onnx-int4-spin", "llamacpp-q4_1"),
          "fp32 edgesplit defaults (auto) / optimum": ("edgesplit-onnx-fp32-auto", "optimum-fp32"),
          "fp32 edgesplit defaults (auto) / plain loop": ("edgesplit-onnx-fp32-auto", "edgesplit-onnx-fp32"),
          "llama.cpp defaults (auto) / plain loop": ("llamacpp-q4_1-auto", "llamacpp-q4_1"),
          "GQA int4: edgesplit loop / onnxruntime-genai": ("edgesplit-loop-gqa-int4", "ortgenai-gqa-int4"),
          "GQA int4: edgesplit loop spinning / onnxruntime-genai": ("edgesplit-loop-gqa-int4-spin",
                                                                    "ortgenai-gqa-int4"),
          "GQA int4: edgesplit loop / llama.cpp Q4_1": ("edgesplit-loop-gqa-int4", "llamacpp-q4_1"),
          "GQA int4: edgesplit loop / edgesplit int4 bundle": ("edgesplit-loop-gqa-int4", "edgesplit-onnx-int4"),
          "fp32 fused / traced bundle": ("edgesplit-onnx-fp32", "edgesplit-onnx-fp32-traced"),
          "int4 fused / traced bundle": ("edgesplit-onnx-int4", "edgesplit-onnx-int4-traced"),
          "int4 traced edgesplit / llama.cpp Q4_1": ("edgesplit-onnx-int4-traced", "llamacpp-q4_1")}
RUNNERS = {"optimum": _optimum_runner, "ortgenai": _ortgenai_runner}
GQA = {"edgesplit-loop-gqa-int4": _gqa_loop_runner, "ortgenai-gqa-int4": _gqa_genai_runner}  # with --gqa


def worker(kind: str, model: str, threads: int, n: int) -> None:
    """Serve `run` requests on stdin, one JSON result per line on stdout."""
    spin, auto = kind.endswith(SPIN), kind.endswith(AUTO)
    if kind.removesuffix(SPIN) in GQA:
        run, n_prompt = GQA[kind.removesuffix(SPIN)](model, threads, n, *((True,) if spin else ()))
    elif runner := RUNNERS.get(kind.split("-")[0]):
        run, n_prompt = runner(model, threads, n)
    else:
        run, n_prompt = _edge_runner(model, threads, n, spin, "auto" if auto else "off")
    print(json.dumps({"ready": True, "prompt_tokens": n_prompt}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t, token_ids = run()
        ttft, first, last = t[1] - t[0], t[1], t[-1]
        print(json.dumps({"ttft_ms": ttft * 1000, "decode_tok_s": (len(t) - 2) / (last - first),
                          "tokens": len(t) - 1, "peak_rss_mb": _peak_rss_mb(), "token_ids": token_ids}), flush=True)


def ensure_bundle(quant: str, attention: str = "fused") -> Path:
    out = REPO / ".cache" / "bench-onnx" / f"smollm2-{quant}-{attention}"
    if not (out / "manifest.json").is_file():
        from edge.models import default_model_path
        from export.onnx.export import export_onnx

        print(f"exporting SmolLM2 {quant} {attention} bundle to {out} ...", file=sys.stderr)
        export_onnx(default_model_path(), out, quant=quant, overwrite=True, attention=attention)
    return out


def _spawn(kind: str, model: str, args) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", kind, "--model", model, "--threads", str(args.threads),
           "--gen-tokens", str(args.gen_tokens)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    json.loads(p.stdout.readline())
    return p


def _ask(p: subprocess.Popen) -> dict:
    p.stdin.write("run\n")
    p.stdin.flush()
    return json.loads(p.stdout.readline())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", default=None)
    ap.add_argument("--int4", default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--spinning", action="store_true", help="also run the edgesplit ONNX contenders spinning")
    ap.add_argument("--defaults", action="store_true", help="also run edgesplit's fp32 ONNX and llama.cpp "
                                                                "contenders with speculative = auto")
    ap.add_argument("--traced", action="store_true", help="also run --attention traced bundles (and optimum on one)")
    ap.add_argument("--fp32-traced", default=None)
    ap.add_argument("--int4-traced", default=None)
    ap.add_argument("--only", default=None, help="comma-separated contenders (default: all)")
    ap.add_argument("--gqa", default=None, help="an ort-genai folder with a fused-attention int4 model.onnx "
                                                "(bench/build_gqa_reference.py): adds its two contenders")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads == 0:
        from edge.options import physical_cores

        args.threads = physical_cores()
    if args.worker:
        return worker(args.worker, args.model, args.threads, args.gen_tokens)
    fp32, int4 = args.fp32 or ensure_bundle("fp32"), args.int4 or ensure_bundle("int4")
    models = dict(zip(CONTENDERS, (str(fp32), str(fp32), str(int4), str(int4), "default"), strict=True))
    if args.traced:
        traced = {"fp32": args.fp32_traced or ensure_bundle("fp32", "traced"),
                  "int4": args.int4_traced or ensure_bundle("int4", "traced")}
        models.update({f"edgesplit-onnx-{q}{TRACED}": str(b) for q, b in traced.items()})
        models["optimum-fp32"] = str(traced["fp32"])
    if args.gqa:
        models.update({k: f"{Path(args.gqa).resolve()}::{int4}" for k in GQA})
    if args.spinning:
        models.update({k + SPIN: models[k] for k in ("edgesplit-onnx-fp32", "edgesplit-onnx-int4",
                                                     "edgesplit-loop-gqa-int4") if k in models})
    if args.defaults:
        models.update({k + AUTO: models[k] for k in ("edgesplit-onnx-fp32", "llamacpp-q4_1") if k in models})
    if args.only:
        models = {k: models[k] for k in args.only.split(",")}
    procs = {k: _spawn(k, m, args) for k, m in models.items()}
    runs: dict[str, list[dict]] = {k: [] for k in models}
    for _ in range(args.repeat):
        for k in models:
            runs[k].append(_ask(procs[k]))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    report(runs, models, args)


def report(runs: dict[str, list[dict]], models: dict[str, str], args) -> None:
    rows = {k: {"ttft_ms": statistics.median(r["ttft_ms"] for r in rs),
                "decode_tok_s": statistics.median(r["decode_tok_s"] for r in rs),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "tokens": rs[0]["tokens"]}
            for k, rs in runs.items()}
    same = _same_tokens(runs, models)
    ratios = {name: rows[a]["decode_tok_s" if "TTFT" not in name else "ttft_ms"]
              / rows[b]["decode_tok_s" if "TTFT" not in name else "ttft_ms"]
              for name, (a, b) in RATIOS.items() if a in rows and b in rows}
    if args.json:
        print(json.dumps({"threads": args.threads, "repeat": args.repeat, "load_average": os.getloadavg(),
                          "rows": rows, "ratios": ratios, "same_tokens_as": same}))
        return
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"threads {args.threads}, {args.gen_tokens} greedy tokens, {args.repeat} interleaved reps (medians), "
          f"load average after {load}")
    print(f"| {'contender':<28} | {'TTFT ms':>8} | {'decode tok/s':>12} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 14}|{'-' * 13}|")
    for k, r in rows.items():
        print(f"| {k:<28} | {r['ttft_ms']:>8.1f} | {r['decode_tok_s']:>12.1f} | {r['peak_rss_mb']:>11.0f} |")
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    for k, ref in same.items():
        print(f"{k}: {'the same' if ref[1] else 'NOT the same'} greedy tokens as {ref[0]}")


def _same_tokens(runs: dict[str, list[dict]], models: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """contender -> (edgesplit's plain contender on the same model file, whether every rep wrote its tokens)."""
    out = {}
    for k, rs in runs.items():
        twin = SAME_FILE.get(k) or next((k.removesuffix(s) for s in (SPIN, AUTO) if k.endswith(s)), None)
        if twin in runs and models[twin] == models[k]:  # (--traced runs optimum on another file)
            out[k] = (twin, all(r["token_ids"] == runs[twin][0]["token_ids"] for r in rs))
    return out

if __name__ == "__main__":
    main()
