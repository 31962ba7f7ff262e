"""What computing GELU in f32 costs: the exact-GELU llama.cpp build against a stock build.

scripts/setup.sh builds ggml without its fp16 GELU lookup table, so f32 exports of GELU models
(Gemma, Gemma 3, T5 v1.1) match PyTorch to ~1e-6 instead of ~2e-4. This times a random
Gemma-3-270M-shaped model (hidden 640, FFN 2048, 18 layers; vocabulary 512) exported as q8_0 —
a quantized model is where the element-wise GELU weighs most next to the matmuls — on both
builds, interleaved, each run in its own process. The stock build is a wheel you build once:

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON ..." pip wheel --no-deps -w /tmp/stock llama-cpp-python==0.3.36
    python bench/gelu_build.py --stock-wheel /tmp/stock/llama_cpp_python-*.whl [--threads 1] [--repeat 5] [--json]

Reports prefill and decode tok/s (medians) and the ratio exact / stock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test fixtures build the checkpoint

from bench.quant_types import add_timing_args, time_model  # noqa: E402


def build_checkpoint(root: Path) -> Path:
    from transformers import Gemma3TextConfig

    from tests.export.conftest import train_bpe_tokenizer
    from tests.export.gguf.conftest import save_checkpoint

    cfg = Gemma3TextConfig(vocab_size=512, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=256, query_pre_attn_scalar=256,
                           sliding_window=512, max_position_embeddings=1024, bos_token_id=1, eos_token_id=2,
                           pad_token_id=0)
    return save_checkpoint(cfg, root / "ckpt", train_bpe_tokenizer(root / "tok"))


def child(gguf: str, threads: int, n_prompt: int, n_gen: int) -> None:
    """One timing in this process; prints JSON with the llama_cpp it really loaded."""
    import llama_cpp

    prefill, decode = time_model(Path(gguf), threads, n_prompt, n_gen)
    print(json.dumps({"prefill": prefill, "decode": decode, "llama_cpp": llama_cpp.__file__}))


def time_build(gguf: Path, site: Path | None, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, __file__, "--child", str(gguf), "--threads", str(args.threads),
                          "--prompt-tokens", str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens)],
                         env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if site is not None and not result["llama_cpp"].startswith(str(site)):
        raise SystemExit(f"the stock run loaded {result['llama_cpp']}, not the wheel in {site}")
    return result


def run(args: argparse.Namespace) -> dict:
    from export.gguf.convert import ExportOptions, export_gguf

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "stock"
        with zipfile.ZipFile(args.stock_wheel) as whl:
            whl.extractall(site)
        export_gguf(build_checkpoint(Path(tmp)), Path(tmp) / "q8", ExportOptions(quant="q8_0"))
        gguf = Path(tmp) / "q8" / "model-q8_0.gguf"
        runs: dict[str, list[dict]] = {"exact": [], "stock": []}
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits both builds alike
            runs["exact"].append(time_build(gguf, None, args))
            runs["stock"].append(time_build(gguf, site, args))
    med = {build: {k: statistics.median(r[k] for r in rs) for k in ("prefill", "decode")} for build, rs in runs.items()}
    return {"threads": args.threads, "repeat": args.repeat, **med,
            "ratio_prefill": med["exact"]["prefill"] / med["stock"]["prefill"],
            "ratio_decode": med["exact"]["decode"] / med["stock"]["decode"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock-wheel", type=Path)
    parser.add_argument("--child", metavar="GGUF")
    add_timing_args(parser, threads=1, repeat=5)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.threads, args.prompt_tokens, args.gen_tokens)
    if args.stock_wheel is None:
        parser.error("--stock-wheel is required (see the module docstring for how to build one)")
    res = run(args)
    if args.json:
        print(json.dumps(res))
        return
    print("| build | prefill tok/s | decode tok/s |")
    print("|---|---:|---:|")
    for build in ("stock", "exact"):
        print(f"| {build} | {res[build]['prefill']:.0f} | {res[build]['decode']:.1f} |")
    print(f"exact / stock: prefill {res['ratio_prefill']:.3f}, decode {res['ratio_decode']:.3f}")


if __name__ == "__main__":
    main()
