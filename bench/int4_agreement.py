"""Top-1 agreement of int4/int8 ONNX bundles with their fp32 bundle on natural text, per architecture.

Random tiny models have flat logits, so agreement on them says little. Here each registered
architecture's tiny config (tests/export/onnx/tiny_configs.py, widened) is trained briefly on
natural English (the licence texts in /usr/share/common-licenses), exported to fp32 ONNX, and
re-quantized with the architecture's registered plan (export/quant/nbits.py). Agreement is
teacher-forced through ONNX Runtime on held-out natural text (a different licence), fp32 bundle
vs quantized bundle. `--smollm2` adds the default model (fp32 = its dequantized Q4_1 GGUF), with
the plan before this change ("legacy": symmetric blocks of 32, only the lm_head at 8 bits).

    python bench/int4_agreement.py [--archs llama,gemma | --archs ''] [--steps 300] [--smollm2] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LICENSES = Path("/usr/share/common-licenses")
TRAIN_FILES = ("GPL-3", "Apache-2.0", "LGPL-3", "MPL-2.0")
EVAL_FILE = "GFDL-1.3"
N_EVAL = 512
WIDE = {"hidden_size": 128, "intermediate_size": 384, "d_model": 128, "d_ff": 384, "encoder_ffn_dim": 384,
        "decoder_ffn_dim": 384}


def _text(names: tuple[str, ...]) -> str:
    return "\n".join((LICENSES / n).read_text(errors="ignore") for n in names if (LICENSES / n).is_file())


def _tokenizer(root: Path, corpus: str) -> Path:
    import tests.export.conftest as shared

    shared.CORPUS = [line for line in corpus.splitlines() if line.strip()]  # train BPE on the natural text
    return shared.train_bpe_tokenizer(root / "tok")


def _train(name: str, tok_dir: Path, corpus: str, out: Path, steps: int) -> Path:
    """Train the widened tiny `name` as a language model (encoder-decoders: copy the chunk)."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    from tests.export.onnx.tiny_configs import TINY

    cls, kwargs = TINY[name]
    config = getattr(transformers, cls)(**{**kwargs, **{k: v for k, v in WIDE.items() if k in kwargs}})
    torch.manual_seed(0)
    auto = transformers.AutoModelForSeq2SeqLM if config.is_encoder_decoder else transformers.AutoModelForCausalLM
    model = auto.from_config(config)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    ids = torch.tensor(tok(corpus)["input_ids"])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - 65, (8,), generator=gen)
        batch = torch.stack([ids[s:s + 64] for s in starts])
        kw = {"labels": batch} if config.is_encoder_decoder else {"labels": batch}
        loss = model(input_ids=batch, **kw).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _agreement(bundle: Path, fp32: Path, ids: list[int], encoder_decoder: bool, start: int) -> float:
    from edge.backends.onnxruntime import load_model

    ref = load_model(fp32, encoder_decoder=encoder_decoder, decoder_start_token_id=start)
    got = load_model(bundle, encoder_decoder=encoder_decoder, decoder_start_token_id=start)
    window = 128 if encoder_decoder else N_EVAL
    agree = []
    for i in range(0, len(ids) - 1, window):
        chunk = ids[i:i + window]
        agree.append(ref.teacher_forced(chunk).argmax(-1) == got.teacher_forced(chunk).argmax(-1))
    return float(np.concatenate(agree).mean())


def _requantize(fp32: Path, out: Path, quant: str, plan, vocab: int) -> Path:
    from export.onnx.quantize import quantize_file

    shutil.copytree(fp32, out)
    for f in out.glob("*.onnx"):
        quantize_file(f, quant, plan.block_size, vocab, plan)
    return out


def _export_untied_fp32(src: Path, out: Path) -> None:
    """fp32 with its own lm_head weight, so re-quantizing covers the head as `--quant int4` does."""
    import export.onnx.export as ex

    real = ex.load_source

    def untied(path: Path):
        source = real(path)
        ex.untie_lm_head(source.model)
        return source

    ex.load_source = untied
    try:
        ex.export_onnx(src, out, quant="fp32", overwrite=True)
    finally:
        ex.load_source = real


def measure(name: str, src: Path, root: Path, eval_text: str, legacy: bool) -> dict:
    from tokenizers import Tokenizer

    from edge.bundle import read_manifest
    from export.quant.nbits import NBitsPlan, plan_for

    fp32 = root / f"{name}-fp32"
    _export_untied_fp32(src, fp32)
    manifest = read_manifest(fp32)
    rt = manifest.runtime
    ids = Tokenizer.from_file(str(fp32 / "tokenizer.json")).encode(eval_text).ids[:N_EVAL]
    arch = manifest.architecture
    plans = {"int4": plan_for(arch, 4), "int8": plan_for(arch, 8)}
    if legacy:
        plans["int4-legacy"] = NBitsPlan(4, keep_8bit=())
    row = {"architecture": arch, "n_tokens": len(ids)}
    for label, plan in plans.items():
        t0 = time.monotonic()
        bundle = _requantize(fp32, root / f"{name}-{label}", label.split("-")[0], plan, rt.n_vocab)
        row[label] = round(_agreement(bundle, fp32, ids, manifest.encoder_decoder,
                                      rt.decoder_start_token_id or 0), 3)
        row[f"{label}_plan"] = plan.describe().model_dump()
        row[f"{label}_s"] = round(time.monotonic() - t0, 1)
    return row


def main() -> None:
    from export.onnx import registered_archs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(registered_archs()))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--smollm2", action="store_true", help="also the default model (slow: a full export)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    corpus, eval_text = _text(TRAIN_FILES), _text((EVAL_FILE,))
    rows = []
    with tempfile.TemporaryDirectory(prefix="int4-agreement-") as tmp:
        root = Path(tmp)
        if args.smollm2:
            from edge.models import default_model_path

            rows.append(measure("smollm2", default_model_path(), root, eval_text, legacy=True))
            print(json.dumps(rows[-1]) if args.json else _line("smollm2", rows[-1]), flush=True)
        tok = _tokenizer(root, corpus)
        for name in filter(None, args.archs.split(",")):
            src = _train(name, tok, corpus, root / f"ckpt-{name}", args.steps)
            rows.append(measure(name, src, root, eval_text, legacy=False))
            print(json.dumps(rows[-1]) if args.json else _line(name, rows[-1]), flush=True)


def _line(name: str, row: dict) -> str:
    extra = f"  int4-legacy {row['int4-legacy']:.3f}" if "int4-legacy" in row else ""
    return f"{name:<12} int4 {row['int4']:.3f}  int8 {row['int8']:.3f}{extra}  ({row['n_tokens']} tokens)"


if __name__ == "__main__":
    main()
