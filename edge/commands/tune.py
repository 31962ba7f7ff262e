"""`edgesplit tune`: race settings (llama.cpp: threads/KV/flash attention/weight types; ONNX Runtime:
threads/spinning) and write the winner, or the tie, as a profile."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InvalidRequestError
from ..models import ModelRef, resolve
from ..profiles import detect, load_profile, user_dir
from ..tune import TuneConfig, candidate_line, gguf_profile_parts, write_profile
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
@click.option("-m", "--model", default="default", show_default=True,
              help="A model: `default`, a .gguf file, a gguf or ONNX bundle.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Profile file to write (default: $EDGESPLIT_HOME/profiles/tuned-MODEL.toml).")
@click.option("--budget-s", type=float, default=90.0, show_default=True, help="Time budget for the whole race.")
@click.option("--profile", default=None, help="Base profile to start from (default: the detected one).")
@click.option("--threads", "threads", default=None, help="Thread counts to try, e.g. 1,2,4 (default: 1, cores-1, cores).")
@click.option("--quant", "quants", default=None,
              help="Weight types to try, e.g. q4_1,q8_0 (default: the source's; + 2 more from a float source).")
@click.option("--requantize", is_flag=True, help="Allow quantizing already-quantized weights again (loses quality).")
@click.option("--min-top1", type=float, default=0.9, show_default=True,
              help="Quality floor: top-1 agreement with the source on natural text.")
@click.option("--json", "as_json", is_flag=True, help="Print the candidates, the verdict and the profile path as JSON.")
def tune(model, out, budget_s, profile, threads, quants, requantize, min_top1, as_json):
    """Race settings on this host and write the best as a profile.

    A GGUF model races threads × KV-cache type × flash attention (× weight type) on llama.cpp; an
    ONNX bundle races threads × thread spinning on ONNX Runtime (its weights stay as exported).

    Each configuration's quality is its top-1 next-token agreement with the source on natural
    text (as export parity measures it); those under --min-top1 do not race. The rest decode in
    interleaved rounds; ones behind the leader beyond the noise drop out early. A winner must be
    ahead beyond the noise; otherwise the tie is declared and the tied configuration of higher
    quality, then the simpler one, is written. A quantized source (the default Q4_1) keeps its
    own weights unless --requantize is given or an f16/f32 source is there to quantize from.

    \b
    Examples:
      edgesplit tune --budget-s 60
      edgesplit tune -m model-f16.gguf --out hw_profiles/my-laptop.toml --threads 2,4
      edgesplit tune --requantize --quant q4_1,q8_0
      edgesplit tune -m ./smollm2-int4 --threads 1,2 --budget-s 60
      edgesplit run --profile ~/.edgesplit/profiles/tuned-default.toml "Hello"
    """
    cfg = TuneConfig(budget_s=budget_s, min_top1=min_top1, threads=_ints(threads),
                     quants=tuple(quants.split(",")) if quants else (), requantize=requantize)
    ref = resolve(model)
    if ref.format == "onnx":
        if quants or requantize:
            raise InvalidRequestError("--quant/--requantize make GGUF weight types; an ONNX bundle keeps its "
                                      "weights: re-export it (`edgesplit export onnx --quant ...`)")
        _tune_onnx(ref, cfg, profile, out, as_json)
        return
    result = run_tune(ref, cfg, profile)
    path = out or user_dir() / f"tuned-{Path(result.model).stem.lower()}.toml"
    prof = write_profile(gguf_profile_parts(result), result.base, path)
    _report(result, prof.name, path, result.best_path, budget_s, as_json, candidate_line,
            {"weights": result.plan.note, "made_types": [q for q in result.plan.types if q != result.source_quant],
             "requantized": cfg.requantize and len(result.plan.types) > 1},
            f"weights: {result.plan.note}")


def _tune_onnx(ref: ModelRef, cfg: TuneConfig, profile: str | None, out: Path | None, as_json: bool) -> None:
    from ..tune_onnx import ort_candidate_line, ort_profile_parts, tune_onnx

    base = load_profile(profile) if profile is not None else detect().profile
    result = tune_onnx(ref, cfg.budget_s, cfg.gen_tokens, cfg.threads, base, max_rounds=cfg.max_rounds)
    path = out or user_dir() / f"tuned-{ref.path.name.lower()}.toml"
    prof = write_profile(ort_profile_parts(result), base, path)
    _report(result, prof.name, path, ref.path, cfg.budget_s, as_json, ort_candidate_line, {},
            f"settings: ONNX Runtime threads x spinning ({result.quantization} weights as exported)")


def _report(result, profile: str, path: Path, model_path: Path, budget_s: float, as_json: bool,
            line, extra: dict, head: str) -> None:
    """The race as JSON or as lines (candidates fastest first, the verdict, how to use the profile)."""
    best = result.best
    assert best is not None
    if as_json:
        echo_json({"profile": profile, "path": str(path), "model_path": str(model_path),
                   "elapsed_s": round(result.elapsed_s, 2), "budget_s": budget_s, "rounds": result.rounds,
                   "stopped": result.stopped, **extra, "tie": result.tie, "verdict": result.verdict(),
                   "tied": [c.name for c in result.tied], "best": best.as_dict(),
                   "candidates": [c.as_dict() for c in result.candidates]})
        return
    click.echo(head)
    for c in sorted(result.candidates, key=lambda c: -c.median):
        click.echo(line(c))
    click.echo(f"{result.verdict()}; {result.rounds} rounds ({result.stopped}) in {result.elapsed_s:.0f} s "
               f"of {budget_s:.0f} s")
    click.echo(f"wrote {path}\nuse it: edgesplit run -m {model_path} --profile {path} \"Hello\"")
