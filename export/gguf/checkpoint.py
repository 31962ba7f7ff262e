"""Read and validate a local Hugging Face checkpoint before anything is written.

Every problem is reported as an ExportError that names the file or tensor and what to do:
a missing or malformed config, truncated safetensors, tensors whose shapes disagree with the
config, or a missing tokenizer.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ExportError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model")


@dataclass
class Checkpoint:
    path: Path
    config: dict[str, Any]
    files: list[Path]  # safetensors shards
    shapes: dict[str, tuple[int, ...]]

    def tensors(self) -> dict[str, np.ndarray]:
        """All tensors as float32 numpy arrays (bf16/f16 upcast)."""
        from safetensors.torch import load_file

        out: dict[str, np.ndarray] = {}
        for f in self.files:
            for name, t in load_file(str(f)).items():
                out[name] = t.float().numpy() if t.is_floating_point() else t.numpy()
        return out


def read_config(src: Path) -> dict[str, Any]:
    path = Path(src) / "config.json"
    if not path.is_file():
        raise ExportError(f"{src} has no config.json: SRC must be a Hugging Face checkpoint directory "
                          "(config.json, *.safetensors, tokenizer files)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON ({exc}); fix or re-save the checkpoint") from None


def _safetensors_header(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ExportError(f"{path} is truncated ({size} bytes): re-save the checkpoint")
        (n,) = struct.unpack("<Q", raw)
        if n > size - 8:
            raise ExportError(f"{path} is truncated: its header alone needs {n} bytes; re-save the checkpoint")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ExportError(f"{path} is not a safetensors file (unreadable header)") from None
    header.pop("__metadata__", None)
    data_size = size - 8 - n
    for name, info in header.items():
        end = info["data_offsets"][1]
        if end > data_size:
            raise ExportError(f"{path} is truncated: tensor {name!r} needs bytes up to {end} but the file "
                              f"holds {data_size}; re-download or re-save the checkpoint")
    return header


def _weight_files(src: Path) -> list[Path]:
    files = sorted(src.glob("*.safetensors"))
    if not files:
        hint = " (found PyTorch .bin weights: re-save with safe_serialization=True)" if any(
            src.glob("*.bin")) else ""
        raise ExportError(f"no *.safetensors weights in {src}{hint}")
    return files


def check_tokenizer(src: Path) -> None:
    if not any((src / name).is_file() for name in TOKENIZER_FILES):
        raise ExportError(f"no tokenizer in {src} (expected one of {', '.join(TOKENIZER_FILES)}): copy the "
                          "tokenizer files of the model into the checkpoint directory")


def open_checkpoint(src: Path) -> Checkpoint:
    """Parse config + safetensors headers and check the tokenizer; reads no tensor data."""
    src = Path(src)
    if not src.is_dir():
        raise ExportError(f"{src} is not a directory: SRC must be a Hugging Face checkpoint directory")
    config = read_config(src)
    files = _weight_files(src)
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        shapes.update({k: tuple(v["shape"]) for k, v in _safetensors_header(f).items()})
    check_tokenizer(src)
    return Checkpoint(src, config, files, shapes)


def check_shapes(src: Path, shapes: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]],
                 optional: set[str]) -> None:
    """Compare checkpoint shapes with the shapes the config implies (from the reference model)."""
    wrong = [f"{k}: checkpoint {shapes[k]} vs config {v}" for k, v in expected.items()
             if k in shapes and shapes[k] != v]
    missing = [k for k in expected if k not in shapes and k not in optional]
    if wrong:
        raise ExportError(f"config.json disagrees with the tensors in {src} ({len(wrong)} tensors), "
                          f"e.g. {'; '.join(wrong[:3])}: fix the config or re-save the checkpoint")
    if missing:
        raise ExportError(f"{src} lacks {len(missing)} tensors the config needs, e.g. {', '.join(missing[:3])}")
