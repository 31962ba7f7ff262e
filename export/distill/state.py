"""Training state on disk, so an interrupted run resumes where its last checkpoint left it.

OUT/train_state/ holds the weights (torch state dict), the AdamW state and state.json (step,
seed, data digest, losses, tokens, elapsed time). Files are written to a temporary directory and
renamed into place, so a run killed mid-save keeps the previous checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ExportError

STATE_DIR = "train_state"


@dataclass
class Progress:
    step: int = 0
    seed: int = 0
    data: str = ""  # digest of the training rows
    tokens: int = 0  # target + prompt tokens seen
    elapsed_s: float = 0.0
    losses: list[float] = field(default_factory=list)


def state_dir(out: Path) -> Path:
    return Path(out) / STATE_DIR


def save(out: Path, model: Any, optimizer: Any, progress: Progress) -> None:
    import torch

    final, tmp = state_dir(out), Path(out) / (STATE_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(model.state_dict(), tmp / "model.pt")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(asdict(progress)))
    old = Path(out) / (STATE_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load(out: Path, model: Any, optimizer: Any, seed: int, data: str) -> Progress | None:
    """Restore the last checkpoint into model and optimizer; None when there is none."""
    import torch

    d = state_dir(out)
    if not (d / "state.json").is_file():
        return None
    progress = Progress(**json.loads((d / "state.json").read_text()))
    if progress.seed != seed or progress.data != data:
        raise ExportError(f"{d} was trained with seed {progress.seed} on data {progress.data}, not seed {seed} on "
                          f"data {data}: resume with the same --seed and data, or pass a new output directory")
    model.load_state_dict(torch.load(d / "model.pt", weights_only=True))
    optimizer.load_state_dict(torch.load(d / "optimizer.pt", weights_only=True))
    return progress
