"""`edgesplit tune`: find the fastest threads/quantization/KV/flash-attention setting within parity."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InvalidRequestError
from ..profiles import user_dir
from ..tune import TuneConfig, write_profile
from ..tune import tune as run_tune
from .options import echo_json


def _ints(text: str | None) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",")) if text else ()
    except ValueError:
        raise InvalidRequestError(f"--threads takes comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise InvalidRequestError("--threads values must be >= 1")
    return values


@click.command()
@click.option("-m", "--model", default="default", show_default=True, help="A GGUF model (`default`, .gguf, gguf bundle).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Profile file to write (default: $EDGESPLIT_HOME/profiles/tuned-MODEL.toml).")
@click.option("--budget-s", type=float, default=90.0, show_default=True, help="Time budget for the whole sweep.")
@click.option("--profile", default=None, help="Base profile to start from (default: the detected one).")
@click.option("--threads", "threads", default=None, help="Thread counts to try, e.g. 1,2,4 (default: 1..physical).")
@click.option("--quant", "quants", default=None, help="Quantizations to try, e.g. q4_1,q8_0 (default: source + 2).")
@click.option("--min-top1", type=float, default=0.9, show_default=True, help="Parity tolerance (top-1 agreement).")
@click.option("--json", "as_json", is_flag=True, help="Print the trials, the choice and the profile path as JSON.")
def tune(model, out, budget_s, profile, threads, quants, min_top1, as_json):
    """Sweep threads × quantization × KV-cache type × flash attention and write the best as a profile.

    Quantized variants are made with llama.cpp and cached under $EDGESPLIT_HOME/cache/tune.
    The winner is the fastest decode whose next-token predictions agree with the source's on at
    least --min-top1 of a fixed text. The profile records every measurement as comments.

    \b
    Examples:
      edgesplit tune --budget-s 60
      edgesplit tune -m model.gguf --out hw_profiles/my-laptop.toml --threads 2,4
      edgesplit run --profile ~/.edgesplit/profiles/tuned-default.toml "Hello"
    """
    cfg = TuneConfig(budget_s=budget_s, min_top1=min_top1, threads=_ints(threads),
                     quants=tuple(quants.split(",")) if quants else ())
    result = run_tune(model, cfg, profile)
    path = out or user_dir() / f"tuned-{Path(result.model).stem.lower()}.toml"
    prof = write_profile(result, path)
    best = result.best
    assert best is not None
    if as_json:
        echo_json({"profile": prof.name, "path": str(path), "model_path": str(result.best_path),
                   "elapsed_s": round(result.elapsed_s, 2), "budget_s": budget_s, "skipped": result.skipped,
                   "best": vars(best), "trials": [vars(t) for t in result.trials]})
        return
    for t in sorted(result.trials, key=lambda t: -t.decode_tok_s):
        click.echo(f"{t.quant:<7} threads={t.threads} kv={t.kv_type:<5} flash_attn={str(t.flash_attn):<5} "
                   f"{t.decode_tok_s:7.1f} tok/s  top-1 {t.top1:.3f}")
    click.echo(f"best: {best.quant}, {best.threads} threads, kv {best.kv_type}, flash_attn {best.flash_attn} "
               f"({best.decode_tok_s:.1f} tok/s) in {result.elapsed_s:.0f} s of {budget_s:.0f} s")
    click.echo(f"wrote {path}\nuse it: edgesplit run -m {result.best_path} --profile {path} \"Hello\"")
