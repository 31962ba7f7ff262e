"""`edgesplit export gguf SRC OUT`: a Hugging Face checkpoint to a verified GGUF bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge.runtimes.llamacpp import QUANTS

QUANT_CHOICES = tuple(QUANTS)  # the registry is plain data: `--help` imports neither gguf nor llama_cpp


@click.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--quant", type=click.Choice(QUANT_CHOICES), default="f16", show_default=True,
              help="GGUF type of the linear layers (K-quants and TQ types through llama.cpp's quantizer).")
@click.option("--ternarize", type=click.Choice(("absmean", "absmedian")), default=None,
              help="Turn linear weights into {-1,0,1}·scale first (BitNet b1.58 / b1.58 Reloaded).")
@click.option("--keep-embeddings", type=click.Choice(("f16", "q8_0")), default=None,
              help="Type of the token embeddings and output layer (default: f16 for tq1_0/tq2_0, else "
                   "llama.cpp's choice).")
@click.option("--strict", is_flag=True, help="Refuse instead of falling back when a tensor cannot take --quant.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--threads", type=int, default=0, help="Quantization threads (0 = physical cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("--verbose", is_flag=True, help="Show the libraries' own logs instead of the stage lines only.")
def gguf(src: Path, out: Path, quant: str, ternarize: str | None, keep_embeddings: str | None, strict: bool,
         overwrite: bool, threads: int, as_json: bool, verbose: bool) -> None:
    """Convert the checkpoint SRC (config.json, *.safetensors, tokenizer) into a GGUF bundle OUT.

    Writes OUT/model-QUANT.gguf and OUT/manifest.json (hashes + teacher-forced logit parity
    against the PyTorch model, f32 KV cache; greedy decoding through llama.cpp's KV cache against
    transformers' generate, 3 prompts x 32 tokens; probe texts tokenized by both tokenizers must
    give the same ids) atomically: on any error OUT is not created. Progress: one line per stage
    on stderr (--verbose: full logs).
    Tensors that cannot take QUANT (rows not a multiple of 256 for K/TQ types) are listed with
    their fallback type before anything is written.

    \b
    Examples:
      edgesplit export gguf ./my-slm ./bundles/my-slm-q4 --quant q4_k_m
      edgesplit export gguf ./my-slm ./bundles/my-slm-tq2 --quant tq2_0 --ternarize absmean
      edgesplit export gguf ./flan-t5-small ./bundles/t5-f16 --quant f16 --json
    """
    from export.progress import Progress, quiet_libraries, quiet_terminal

    if not verbose:
        quiet_libraries()
    with quiet_terminal(verbose) as terminal:
        from .convert import STAGES, ExportOptions, ExportPlan, export_gguf

        def report(plan: ExportPlan) -> None:
            for fb in plan.fallbacks:
                terminal.write(f"pre-flight: {fb}\n")

        opts = ExportOptions(quant=quant, ternarize=ternarize, keep_embeddings=keep_embeddings, strict=strict,
                             overwrite=overwrite, threads=threads)
        manifest = export_gguf(src, out, opts, on_plan=report, progress=Progress(STAGES, terminal))
    if as_json:
        click.echo(json.dumps(manifest.model_dump()))
        return
    parity = manifest.parity
    click.echo(f"wrote {out} ({manifest.architecture}, {manifest.quantization})")
    if parity is not None:
        click.echo(f"parity vs PyTorch: max |Δlogit| {parity.max_abs_logit_diff:.3g}, "
                   f"top-1 agreement {parity.top1_agreement:.3f} over {parity.n_tokens} tokens")
    tokens = manifest.tokenizer_parity
    if tokens is not None:
        click.echo(f"tokenizer: {tokens.n_texts - tokens.mismatches}/{tokens.n_texts} probe texts "
                   "tokenize identically")
    if manifest.runtime.exact_gelu is False:  # export_gguf returns a GgufManifest
        click.echo("note: this llama.cpp reads GELU from an fp16 table (stock build), so GELU models' f32 "
                   "parity is ~1e-4, not ~1e-6; scripts/setup.sh builds it exact", err=True)
