"""Size, prefill and decode speed of one ternarized ~70M-parameter Llama in each GGUF type.

The random Llama (hidden 768, FFN 2048, 10 layers: every row a multiple of 256, so K and TQ
types apply to all linear layers) is ternarized once (absmean) and exported with
`edgesplit export gguf` as f16, q8_0, q4_k_m, tq2_0 and tq1_0: every file holds the same
ternary weights. Each is timed on llama.cpp with the same threads, prompt and greedy decoding
(median of R repetitions).

    python bench/quant_types.py [--threads 2] [--prompt-tokens 128] [--gen-tokens 64] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test fixtures build the checkpoint

QUANTS = ("f16", "q8_0", "q4_k_m", "tq2_0", "tq1_0")


def build_checkpoint(root: Path) -> Path:
    from transformers import LlamaConfig

    from tests.export.conftest import train_bpe_tokenizer
    from tests.export.gguf.conftest import save_checkpoint

    cfg = LlamaConfig(vocab_size=512, hidden_size=768, intermediate_size=2048, num_hidden_layers=10,
                      num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=1024,
                      tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return save_checkpoint(cfg, root / "ckpt", train_bpe_tokenizer(root / "tok"))


def time_model(path: Path, threads: int, n_prompt: int, n_gen: int) -> tuple[float, float]:
    """(prefill tok/s, decode tok/s) for one run: eval a prompt, then greedy single-token steps."""
    from edge.runtimes import llamacpp

    llm = llamacpp.open_model(path, n_ctx=n_prompt + n_gen + 8, n_batch=n_prompt, threads=threads, flash_attn=True)
    ids = [int(i) for i in np.random.default_rng(0).integers(10, 500, n_prompt)]
    t0 = time.perf_counter()
    llm.eval(ids)
    t1 = time.perf_counter()
    for _ in range(n_gen):
        llm.eval([int(np.argmax(llamacpp.last_logits(llm)))])
    t2 = time.perf_counter()
    llm.close()
    return n_prompt / (t1 - t0), n_gen / (t2 - t1)


def linear_bpw(path: Path) -> float:
    from gguf import GGUFReader

    ts = [t for t in GGUFReader(path).tensors if t.name.startswith("blk.") and len(t.shape) == 2]
    return sum(int(t.n_bytes) for t in ts) * 8 / sum(int(t.n_elements) for t in ts)


def run(args: argparse.Namespace) -> list[dict]:
    from export.gguf.convert import ExportOptions, export_gguf

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = build_checkpoint(Path(tmp))
        for quant in QUANTS:
            manifest = export_gguf(src, Path(tmp) / quant, ExportOptions(quant=quant, ternarize="absmean"))
            gguf = Path(tmp) / quant / f"model-{quant}.gguf"
            runs = [time_model(gguf, args.threads, args.prompt_tokens, args.gen_tokens) for _ in range(args.repeat)]
            rows.append({"quant": quant, "size_mib": gguf.stat().st_size / 2**20, "linear_bpw": linear_bpw(gguf),
                         "prefill_tok_s": statistics.median(r[0] for r in runs),
                         "decode_tok_s": statistics.median(r[1] for r in runs),
                         "top1_vs_pytorch": manifest.parity.top1_agreement if manifest.parity else None})
    return rows


def add_timing_args(parser: argparse.ArgumentParser, threads: int, repeat: int) -> None:
    """The options of every `time_model` benchmark."""
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--json", action="store_true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(parser, threads=2, repeat=3)
    args = parser.parse_args()
    rows = run(args)
    if args.json:
        print(json.dumps(rows))
        return
    print("| type | size MiB | linear bits/weight | prefill tok/s | decode tok/s | top-1 vs PyTorch |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['quant']} | {r['size_mib']:.1f} | {r['linear_bpw']:.3f} | {r['prefill_tok_s']:.0f} | "
              f"{r['decode_tok_s']:.0f} | {r['top1_vs_pytorch']:.2f} |")


if __name__ == "__main__":
    main()
