"""'Return of the Encoder' check: first-token latency of an encoder-decoder vs a decoder-only
model of matched size, on this machine, in one interleaved `edgesplit bench --compare` run.

Both models are random (no hub here): latency depends on shapes, not on trained weights.
T5 (6+6 layers, d_model 512) and a Llama (13 layers, hidden 512, SwiGLU 1536) have ~matched
parameter counts; both are exported to f16 GGUF bundles with edgesplit's own converter and run
on the llama.cpp backend.

    python bench/encdec_vs_decoder.py [--prompt-tokens 256] [--gen-tokens 16] [--repeat 3] [-t 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("edgesplit"))
sys.path.insert(0, str(REPO))


def build(work: Path) -> tuple[Path, Path]:
    from transformers import LlamaConfig, T5Config

    from tests.export.conftest import train_bpe_tokenizer
    from tests.export.gguf.conftest import save_checkpoint, train_unigram_spm

    t5_src, llama_src = work / "t5-src", work / "llama-src"
    if not t5_src.exists():
        spm_dir = train_unigram_spm(work / "spm")
        import sentencepiece as spm

        n = spm.SentencePieceProcessor(model_file=str(spm_dir / "spiece.model")).get_piece_size()
        save_checkpoint(T5Config(vocab_size=n, d_model=512, d_kv=64, num_heads=8, d_ff=2048, num_layers=6,
                                 feed_forward_proj="relu", decoder_start_token_id=0, pad_token_id=0,
                                 eos_token_id=1), t5_src, spm_dir)
    if not llama_src.exists():
        tok = train_bpe_tokenizer(work / "bpe")
        save_checkpoint(LlamaConfig(vocab_size=512, hidden_size=512, intermediate_size=1536, num_hidden_layers=13,
                                    num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=2048,
                                    tie_word_embeddings=True), llama_src, tok)
    bundles = []
    for src in (t5_src, llama_src):
        out = work / (src.name.replace("-src", "") + "-f16")
        if not out.exists():
            subprocess.run([EXE, "export", "gguf", str(src), str(out), "--quant", "f16"],
                           check=True, cwd=REPO)
        bundles.append(out)
    return bundles[0], bundles[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=REPO / ".cache" / "encdec-bench")
    ap.add_argument("--prompt-tokens", type=int, default=256)
    ap.add_argument("--gen-tokens", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("-t", "--threads", type=int, default=1)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    t5, llama = build(args.work)
    cmd = [EXE, "bench", "--json", "--no-reference", "-t", str(args.threads),
           "--prompt-tokens", str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens),
           "--repeat", str(args.repeat), "--compare", f"{t5},label=t5-encoder-decoder",
           f"{llama},label=llama-decoder-only"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    for r in rows:
        print(f"{r.get('label') or r['model']:<22} TTFT {r['ttft_ms']:8.1f} ms  prefill {r['prefill_tok_s']:8.1f} tok/s"
              f"  decode {r['decode_tok_s']:7.1f} tok/s  RSS {r['peak_rss_mb']:.0f} MB")
    if len(rows) == 2:
        print(f"TTFT encoder-decoder / decoder-only = {rows[0]['ttft_ms'] / rows[1]['ttft_ms']:.2f} "
              f"({(1 - rows[0]['ttft_ms'] / rows[1]['ttft_ms']) * 100:+.0f} % lower first-token latency)")


if __name__ == "__main__":
    main()
