"""Build the fused-attention reference graph of the default model with onnxruntime-genai's model builder.

    python bench/build_gqa_reference.py OUT [--precision int4|fp32|edgesplit-int4]

The default GGUF is dequantized into a transformers checkpoint (under OUT/hf), then the builder
that ships in the onnxruntime-genai wheel writes OUT/model: one GroupQueryAttention node per layer
(rotary inside), MatMulNBits int4 (block 32, accuracy_level 4, lm_head included), 343 nodes where
edgesplit's optimum-based export has 3,453 after ORT's own optimization. OUT/model is an ort-genai
folder: `bench/onnx_decode.py --gqa OUT/model` runs edgesplit's loop and onnxruntime-genai on it.
`edgesplit-int4` builds fp32 and then applies edgesplit's own int4 plan for llama (export/quant/
nbits.py: float block offsets, v/o/down and the lm_head at 8 bits), to compare graphs at equal
quantization (the builder's int4 keeps top-1 agreement with fp32 at ~0.6 on this model).

The builder (onnxruntime-genai 0.18) imports transformers classes of newer model families
(Qwen3.5...) that the pinned transformers lacks; SmolLM2 needs none of them, so they are stubbed.
This is a benchmark reference, not an export path: nothing in edgesplit imports it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import runpy
import sys
from pathlib import Path


def dequantized_checkpoint(out: Path) -> Path:
    """The default GGUF as a transformers checkpoint; rope_scaling spelled out (the builder iterates it)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edge.models import default_model_path

    gguf = Path(default_model_path())
    AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    (out / "tokenizer.model").unlink(missing_ok=True)  # a copy of the whole GGUF; tokenizer.json suffices
    cfg = json.loads((out / "config.json").read_text())
    cfg["rope_scaling"] = cfg.get("rope_scaling") or {"rope_type": "default", "rope_theta": cfg.get("rope_theta")}
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    return out


def _import_builders(package: Path) -> None:
    """Import the builder's `builders` package, stubbing transformers names it imports but never uses here."""
    sys.path.insert(0, str(package))
    for _ in range(64):
        try:
            importlib.import_module("builders")
            return
        except ImportError as exc:
            missing = re.search(r"cannot import name '(\w+)' from '([\w.]+)'", str(exc))
            if not missing:
                raise
            setattr(importlib.import_module(missing.group(2)), missing.group(1), type(missing.group(1), (), {}))
            for name in [m for m in sys.modules if m == "builders" or m.startswith("builders.")]:
                del sys.modules[name]
    raise RuntimeError("onnxruntime-genai's builder kept failing to import")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--precision", default="int4", choices=("int4", "fp32", "edgesplit-int4"))
    args = ap.parse_args()
    import onnxruntime_genai

    package = Path(onnxruntime_genai.__file__).parent / "models"
    hf = dequantized_checkpoint(args.out / "hf")
    _import_builders(package)
    extra = ["--extra_options", "int4_accuracy_level=4", "int4_block_size=32"] if args.precision == "int4" else []
    precision = "fp32" if args.precision == "edgesplit-int4" else args.precision
    sys.argv = ["builder.py", "-m", "HuggingFaceTB/SmolLM2-135M-Instruct", "-i", str(hf), "-o", str(args.out / "model"),
                "-p", precision, "-e", "cpu", "-c", str(args.out / "cache"), *extra]
    runpy.run_path(str(package / "builder.py"), run_name="__main__")
    if args.precision == "edgesplit-int4":
        edgesplit_int4(args.out / "model", json.loads((hf / "config.json").read_text())["vocab_size"])


def edgesplit_int4(folder: Path, vocab_size: int) -> None:
    """Quantize the folder's fp32 model.onnx in place with edgesplit's llama int4 plan (weights inlined)."""
    import onnx

    from export.onnx.quantize import quantize_file
    from export.quant.nbits import plan_for

    path = folder / "model.onnx"
    onnx.save(onnx.load(str(path)), str(path))  # external data inlined (< 2 GB): the quantizer reads initializers
    (folder / "model.onnx.data").unlink(missing_ok=True)
    plan = plan_for("llama", 4)
    quantize_file(path, "int4", plan.block_size, vocab_size, plan)


if __name__ == "__main__":
    main()
