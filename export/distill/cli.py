"""`edgesplit distill DATA OUT`: fine-tune a model on verified agent data into an exportable checkpoint."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

BAR = 20


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def progress_line(step: int, total: int, loss: float, tokens_per_s: float, eta_s: float) -> str:
    """`[#####...............] step 12/48 loss 1.234 85 tok/s ETA 3m12s`"""
    filled = round(BAR * step / max(total, 1))
    return (f"[{'#' * filled}{'.' * (BAR - filled)}] step {step}/{total} loss {loss:.4f} "
            f"{tokens_per_s:.0f} tok/s ETA {_clock(eta_s)}")


class Bar:
    """Redraws in place on a TTY; elsewhere one line every ~5 % of the steps (and the last)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream, self.live = stream, stream.isatty()
        self.last = 0.0

    def __call__(self, s) -> None:
        line = progress_line(s.step, s.total, s.loss, s.tokens_per_s, s.eta_s)
        if self.live:
            self.stream.write("\r" + line + ("\n" if s.step == s.total else ""))
        elif s.step == s.total or s.step % max(1, s.total // 20) == 0 or time.monotonic() - self.last > 60:
            self.stream.write(line + "\n")
            self.last = time.monotonic()
        self.stream.flush()


@click.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("-m", "--model", "source", default="default", show_default=True,
              help="Start from `default` (the default model's GGUF, dequantized) or an HF checkpoint dir or GGUF.")
@click.option("--epochs", type=click.IntRange(1, 1000), default=2, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 512), default=4, show_default=True)
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), default=1e-4, show_default=True,
              help="Peak learning rate (cosine schedule); 1e-4 is the measured recipe.")
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Stop after this many steps in all.")
@click.option("--max-minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after this many minutes of training (this invocation); the checkpoint is still written.")
@click.option("--max-len", type=click.IntRange(16), default=2048, show_default=True,
              help="Examples longer than this many tokens (prompt + answer) are skipped.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: same seed, data and start = same weights.")
@click.option("--save-every", type=click.IntRange(0), default=25, show_default=True,
              help="Steps between resumable checkpoints (OUT/train_state; 0: only at the end).")
@click.option("--resume", is_flag=True, help="Continue from OUT/train_state (same data and --seed).")
@click.option("-t", "--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--json", "as_json", is_flag=True, help="No progress bar; print the report as one JSON object.")
def distill(data: Path, out: Path, source: str, epochs: int, batch_size: int, lr: float,
            max_steps: int | None, max_minutes: float | None, max_len: int, seed: int, save_every: int,
            resume: bool, threads: int | None, as_json: bool) -> None:
    """Fine-tune a model on DATA (rows from `edgesplit agent synth`) and write an HF checkpoint to OUT.

    Full fine-tune with the loss on the answer (script) tokens only; the prompt is laid out as
    the agent lays it out at inference. OUT takes `edgesplit export gguf|onnx` as is: config,
    safetensors, tokenizer and chat template. Another app: give `agent synth` its doc's tasks
    (apps/gui_agent/synth) and distill on that data the same way.

    \b
    Examples:
      edgesplit agent synth -o agent-data.jsonl
      edgesplit distill agent-data.jsonl ./distilled --max-minutes 60
      edgesplit distill agent-data.jsonl ./distilled --resume --max-minutes 30
      edgesplit export gguf ./distilled ./bundles/distilled-q8 --quant q8_0
      edgesplit agent bench -m ./bundles/distilled-q8 -m default
    """
    from export.progress import quiet_libraries

    from .train import DistillConfig
    from .train import distill as run

    quiet_libraries()
    cfg = DistillConfig(data=data, out=out, source=None if source == "default" else Path(source), epochs=epochs, batch_size=batch_size, lr=lr,
                        max_steps=max_steps, max_minutes=max_minutes, max_len=max_len, seed=seed,
                        save_every=save_every, resume=resume, threads=threads)
    report = run(cfg, on_step=None if as_json else Bar())
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"wrote {report['out']}: {report['steps']} steps ({report['stopped']}) on {report['examples']} examples, "
               f"loss {report['first_loss']} -> {report['final_loss']}, {report['tokens_per_s']} tok/s")
