"""`edgesplit export onnx SRC OUT`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .quantize import QUANTS


@click.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--quant", type=click.Choice(QUANTS), default="fp32", show_default=True,
              help="Weights: fp32, fp16, weight-only int8/int4 MatMulNBits, or 2-bit ternary (BitNet style).")
@click.option("--block-size", type=int, default=None,
              help="Quantization block size (power of 2, >= 16); default 32 (int8: 16).")
@click.option("--ort-mobile", is_flag=True, help="Also write ORT-format files and required_operators.config (mobile/).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
def onnx(src: Path, out: Path, quant: str, block_size: int | None, ort_mobile: bool, overwrite: bool, as_json: bool) -> None:
    """Export SRC (a Hugging Face checkpoint directory or a .gguf file) to an ONNX bundle at OUT.

    The bundle holds the ONNX graphs (decoder-only: model.onnx with a KV cache; encoder-decoder:
    encoder_model.onnx + decoder_model_merged.onnx), the tokenizer, the chat template and a
    manifest with file hashes and a parity report against the PyTorch source. Nothing is left at
    OUT when the export fails.

    \b
    Examples:
      edgesplit export onnx ./my-slm ./bundles/my-slm
      edgesplit export onnx ./my-slm ./bundles/my-slm-int4 --quant int4 --block-size 32
      edgesplit export onnx model.gguf ./bundles/model-onnx --ort-mobile --json
    """
    from .export import export_onnx

    manifest = export_onnx(src, out, quant=quant, block_size=block_size, ort_mobile=ort_mobile, overwrite=overwrite)
    size = sum((out / f).stat().st_size for f in manifest.files)
    summary = {"bundle": str(out), "architecture": manifest.architecture, "quantization": manifest.quantization,
               "encoder_decoder": manifest.encoder_decoder, "files": sorted(manifest.files),
               "size_mb": round(size / 2**20, 1), "parity": manifest.parity.model_dump() if manifest.parity else None}
    if as_json:
        click.echo(json.dumps(summary))
        return
    p = manifest.parity
    click.echo(f"wrote {out} ({manifest.architecture}, {quant}, {summary['size_mb']} MB)")
    if p is not None:
        click.echo(f"parity vs {p.reference}: max |Δlogit| {p.max_abs_logit_diff:.3g}, "
                   f"top-1 agreement {p.top1_agreement:.3f} over {p.n_tokens} tokens")
