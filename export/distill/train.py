"""The fine-tuning loop: full fine-tune, AdamW, loss on the answer tokens only.

    report = distill(DistillConfig(data=Path("agent-data.jsonl"), out=Path("distilled")))

Deterministic for a seed (batch order and initialisation come from it; nothing else draws at
random), bounded by max_steps and max_minutes, resumable: a checkpoint is saved every
`save_every` steps and when the run stops, and `resume=True` continues from it. The output
directory is an HF checkpoint (config, safetensors, tokenizer with its chat template) that
`edgesplit export gguf|onnx` takes as is.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ExportError

from . import state
from .data import IGNORE, Example, batch, digest, encode, shared_prefix


class DistillError(ExportError):
    """A distillation that cannot run as asked."""


@dataclass
class DistillConfig:
    data: Path
    out: Path
    source: Path | None = None  # HF checkpoint dir or GGUF; None: the default model's GGUF
    epochs: int = 2
    batch_size: int = 4
    lr: float = 1e-4  # the measured recipe (bench/distill_agent.py: 95.6 % on held-out agent tasks)
    warmup: int = 10
    max_steps: int | None = None
    max_minutes: float | None = None
    max_len: int = 2048
    seed: int = 0
    save_every: int = 25
    resume: bool = False
    threads: int | None = None


@dataclass
class Step:
    step: int
    total: int
    loss: float
    tokens_per_s: float
    eta_s: float


def plan_batches(groups: list[str], batch_size: int, epochs: int, seed: int) -> list[list[int]]:
    """Example indices of every step: each epoch a fresh shuffle drawn from the seed, each batch
    within one group (one shared prompt prefix), the batches themselves shuffled."""
    plan = []
    for epoch in range(epochs):
        rng = random.Random(seed * 1000 + epoch)
        order = list(range(len(groups)))
        rng.shuffle(order)
        by_group: dict[str, list[int]] = {}
        for i in order:
            by_group.setdefault(groups[i], []).append(i)
        batches = [g[i:i + batch_size] for g in by_group.values() for i in range(0, len(g), batch_size)]
        rng.shuffle(batches)
        plan += batches
    return plan


def step_loss(model: Any, b: dict) -> Any:
    """Mean loss over the answer tokens; the shared prefix runs once, without gradient, as a KV cache."""
    import torch
    import torch.nn.functional as F

    n_prefix, (rows, width) = b["prefix"].shape[1], b["input_ids"].shape
    cache = None
    if n_prefix:
        with torch.no_grad():
            cache = model(input_ids=b["prefix"], use_cache=True).past_key_values
        cache.batch_repeat_interleave(rows)
    positions = torch.arange(n_prefix, n_prefix + width).expand(rows, width)
    logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], past_key_values=cache,
                   position_ids=positions, use_cache=cache is not None).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), b["labels"][:, 1:].flatten(), ignore_index=IGNORE)


def lr_at(step: int, total: int, cfg: DistillConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    warm = min(1.0, (step + 1) / max(1, cfg.warmup))
    return cfg.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, total))))


def load_start(cfg: DistillConfig) -> Any:
    """The starting checkpoint as export loads it (a GGUF dequantized to float32, tokenizer fixed)."""
    from export.onnx.source import load_source

    if cfg.source is None:
        from edge.models import default_model_path

        return load_source(default_model_path())
    return load_source(Path(cfg.source))


def _examples(cfg: DistillConfig, source: Any) -> tuple[list[Example], int, str]:
    from apps.gui_agent.synth.io import read_rows

    rows = read_rows(cfg.data)
    if not rows:
        raise DistillError(f"{cfg.data} holds no training rows; generate some with `edgesplit agent synth`")
    examples, dropped = encode(rows, source.tokenizer, source.chat_template, cfg.max_len)
    return examples, dropped, digest(rows)


def distill(cfg: DistillConfig, on_step: Callable[[Step], None] | None = None) -> dict:
    """Train, checkpoint, and write the HF checkpoint to cfg.out; a report of the run."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    source = load_start(cfg)
    examples, dropped, data_id = _examples(cfg, source)
    model = source.model.train()
    model.config.use_cache = False
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    progress = (state.load(cfg.out, model, opt, cfg.seed, data_id) if cfg.resume else None) or \
        state.Progress(seed=cfg.seed, data=data_id)
    plan = plan_batches([e.group for e in examples], cfg.batch_size, cfg.epochs, cfg.seed)
    total = min(len(plan), cfg.max_steps or len(plan))
    try:
        stopped = _loop(cfg, model, opt, examples, plan, total, progress, source.tokenizer, on_step)
    except KeyboardInterrupt:
        state.save(cfg.out, model, opt, progress)
        raise DistillError(f"interrupted at step {progress.step}; the checkpoint is saved in "
                           f"{state.state_dir(cfg.out)}: rerun with --resume to continue") from None
    state.save(cfg.out, model, opt, progress)
    write_checkpoint(model, source, cfg.out)
    report = {"out": str(cfg.out), "source": str(source.path), "examples": len(examples), "dropped_too_long": dropped,
              "steps": progress.step, "planned_steps": len(plan), "stopped": stopped,
              "first_loss": progress.losses[0] if progress.losses else None,
              "final_loss": progress.losses[-1] if progress.losses else None, "tokens": progress.tokens,
              "elapsed_s": round(progress.elapsed_s, 1),
              "tokens_per_s": round(progress.tokens / progress.elapsed_s, 1) if progress.elapsed_s else 0.0}
    (Path(cfg.out) / "distill.json").write_text(json.dumps({**report, "seed": cfg.seed, "data": data_id}, indent=1))
    return report


def _loop(cfg: DistillConfig, model: Any, opt: Any, examples: list[Example], plan: list[list[int]], total: int,
          progress: state.Progress, tokenizer: Any, on_step: Callable[[Step], None] | None) -> str:
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prefix = shared_prefix(examples)
    t0, done_before = time.monotonic(), progress.elapsed_s
    while progress.step < total:
        if cfg.max_minutes is not None and time.monotonic() - t0 >= cfg.max_minutes * 60:  # per invocation
            return "max-minutes"
        chunk = [examples[i] for i in plan[progress.step]]
        for group in opt.param_groups:
            group["lr"] = lr_at(progress.step, len(plan), cfg)  # the plan's schedule: a stop or resume never changes it
        loss = step_loss(model, batch(chunk, pad, prefix[chunk[0].group]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        progress.step += 1
        progress.tokens += sum(len(e.ids) for e in chunk)  # as if unshared: comparable across layouts
        progress.losses.append(round(loss.item(), 5))
        progress.elapsed_s = done_before + time.monotonic() - t0
        if on_step is not None:
            rate = progress.tokens / max(progress.elapsed_s, 1e-9)
            eta = progress.elapsed_s / progress.step * (total - progress.step)
            on_step(Step(progress.step, total, progress.losses[-1], rate, eta))
        if cfg.save_every and progress.step % cfg.save_every == 0 and progress.step < total:
            state.save(cfg.out, model, opt, progress)
    return "max-steps" if total < len(plan) else "done"


def write_checkpoint(model: Any, source: Any, out: Path) -> None:
    """config + safetensors + tokenizer (chat template inside tokenizer_config.json) in `out`."""
    from export.onnx.source import save_tokenizer

    model.config.use_cache = True
    model.eval().save_pretrained(out, safe_serialization=True)
    save_tokenizer(source.tokenizer, Path(out))
    cfg_path = Path(out) / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text())
    if source.chat_template:
        tok_cfg["chat_template"] = source.chat_template  # save_tokenizer drops chat_template.jinja
    cfg_path.write_text(json.dumps(tok_cfg, indent=1, ensure_ascii=False))
