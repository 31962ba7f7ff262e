"""`edgesplit export mobile MODEL OUT --target ...`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .base import TARGETS
from .golden import MAX_TOKENS
from .kit import DEFAULT_PROFILE


@click.command()
@click.argument("model")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--target", "targets", default=None,
              help=f"Comma-separated kits to write: {', '.join(TARGETS)} (default: every one the models given feed).")
@click.option("--gguf", default=None, help="GGUF model (a .gguf, a GGUF bundle or `default`) for the llama-cpp "
              "kit when MODEL is an ONNX bundle.")
@click.option("--profile", default=DEFAULT_PROFILE, show_default=True,
              help="Hardware profile the kits are sized for (context, KV type, RAM budget).")
@click.option("--max-tokens", type=click.IntRange(1, 256), default=MAX_TOKENS, show_default=True,
              help="Greedy tokens per golden-file prompt.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one summary object per kit.")
@click.option("--verbose", is_flag=True, help="Show the runtimes' and converters' own logs.")
def mobile(model: str, out: Path, targets: str | None, gguf: str | None, profile: str, max_tokens: int,
           overwrite: bool, as_json: bool, verbose: bool) -> None:
    """Write companion kits for device runtimes from a verified MODEL (an ONNX bundle, a GGUF or `default`).

    One folder per target in OUT, each in the layout its runtime loads: ort-genai (onnxruntime-genai:
    genai_config.json, model.onnx, tokenizer), transformers-js (config, tokenizer, onnx/model_q4.onnx...),
    llama-cpp (the GGUF and llama-settings.json), ort-mobile (model.ort, required_operators.config).
    Every kit has edgesplit-kit.json (sha256 and size of each file, quantization, context length, RAM
    needed, the profile), and golden.json (prompts, token ids, edgesplit's greedy continuations) that
    `edgesplit verify OUT/<target>` replays. A target that cannot load the model is refused by name,
    with its reason, before anything is written; nothing is left at OUT on any failure.

    \b
    Examples:
      edgesplit export mobile ./bundles/smollm2-int4 ./kits --target ort-genai,transformers-js,llama-cpp --gguf default
      edgesplit export mobile default ./kits --target llama-cpp --profile raspberry-pi-5
      edgesplit verify ./kits/ort-genai
    """
    from export.progress import quiet_terminal

    from .kit import export_kits

    names = [t.strip() for t in targets.split(",") if t.strip()] if targets else None
    with quiet_terminal(verbose):  # the ORT-format converter prints to stdout
        made = export_kits(model, out, names, gguf=gguf, profile=profile, max_tokens=max_tokens,
                           overwrite=overwrite)
    rows = [{"target": name, "kit": str(out / name), "quantization": m.quantization,
             "context_length": m.context_length, "ram_needed_mb": m.ram_needed_mb, "profile": m.profile["name"],
             "size_mb": round(sum(f.size for f in m.files.values()) / 2**20, 1)} for name, m in made.items()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(f"wrote {r['kit']} ({r['quantization']}, {r['size_mb']} MB, ctx {r['context_length']}, "
                   f"~{r['ram_needed_mb']} MB RAM, profile {r['profile']})")
