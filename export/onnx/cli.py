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
@click.option("--keep-8bit", "keep_8bit", multiple=True, metavar="NAME",
              help="int4: also keep projections whose node name has /NAME/ at 8 bits (e.g. q_proj, up_proj); "
                   "adds to the architecture's own list (lm_head, v_proj, o_proj, down_proj). Fused llama "
                   "graphs pack q+k and gate+up into one MatMul each: naming either keeps the pair.")
@click.option("--attention", type=click.Choice(("fused", "traced")), default=None,
              help="fused: one GroupQueryAttention node per layer (llama family; ~10x fewer nodes, faster decode); "
                   "traced: optimum's graph. Default: fused where the architecture and its features allow, "
                   "else traced (the manifest records which).")
@click.option("--ort-mobile", is_flag=True, help="Also write ORT-format files and required_operators.config (mobile/).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
@click.option("--verbose", is_flag=True, help="Show the libraries' own logs instead of the stage lines only.")
def onnx(src: Path, out: Path, quant: str, block_size: int | None, keep_8bit: tuple[str, ...],
         attention: str | None, ort_mobile: bool, overwrite: bool, as_json: bool, verbose: bool) -> None:
    """Export SRC (a Hugging Face checkpoint directory or a .gguf file) to an ONNX bundle at OUT.

    The bundle holds the ONNX graphs (decoder-only: model.onnx with a KV cache; encoder-decoder:
    encoder_model.onnx + decoder_model_merged.onnx), the tokenizer, the chat template and a
    manifest with file hashes and two parity reports against the PyTorch source: teacher-forced
    logits, and greedy decoding through the runtime's KV cache (3 prompts x 32 tokens). int4
    keeps the lm_head and each architecture's sensitive projections at 8 bits. Nothing is left
    at OUT when the export fails. Progress: one line per stage on stderr (--verbose: full logs).

    \b
    Examples:
      edgesplit export onnx ./my-slm ./bundles/my-slm
      edgesplit export onnx ./my-slm ./bundles/my-slm-int4 --quant int4 --block-size 16 --keep-8bit up_proj
      edgesplit export onnx model.gguf ./bundles/model-onnx --ort-mobile --json
      edgesplit export onnx ./my-llama ./bundles/my-llama-traced --attention traced
    """
    from export.progress import Progress, quiet_libraries, quiet_terminal

    if not verbose:
        quiet_libraries()
    with quiet_terminal(verbose) as terminal:
        from .export import STAGES, export_onnx

        manifest = export_onnx(src, out, quant=quant, block_size=block_size, keep_8bit=keep_8bit,
                               ort_mobile=ort_mobile, overwrite=overwrite, progress=Progress(STAGES, terminal),
                               attention=attention)
    size = sum((out / f).stat().st_size for f in manifest.files)
    summary = {"bundle": str(out), "architecture": manifest.architecture, "quantization": manifest.quantization,
               "encoder_decoder": manifest.encoder_decoder, "attention": manifest.attention, "files": sorted(manifest.files),
               "size_mb": round(size / 2**20, 1), "parity": manifest.parity.model_dump() if manifest.parity else None}
    if as_json:
        click.echo(json.dumps(summary))
        return
    p = manifest.parity
    click.echo(f"wrote {out} ({manifest.architecture}, {quant}, {manifest.attention} attention, "
               f"{summary['size_mb']} MB)")
    if p is not None:
        click.echo(f"parity vs {p.reference}: max |Δlogit| {p.max_abs_logit_diff:.3g}, "
                   f"top-1 agreement {p.top1_agreement:.3f} over {p.n_tokens} tokens")
