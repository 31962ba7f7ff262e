"""Bundle manifests: the contract between `export` (which writes them) and the runtime.

A bundle is a directory with `manifest.json` listing every file with its sha256. Loading
re-hashes the files and refuses a bundle whose files or manifest were changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import BundleIntegrityError, ModelFormatError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


class Parity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str
    max_abs_logit_diff: float
    top1_agreement: float
    n_tokens: int
    tolerance: float | None = None
    min_top1: float | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION
    format: Literal["onnx", "gguf"]
    architecture: str
    encoder_decoder: bool = False
    quantization: str
    files: dict[str, str]  # relative path -> sha256 hex
    tokenizer: str | None = None  # relative path of tokenizer file/dir, if separate
    chat_template: str | None = None
    source: dict[str, str] = {}
    parity: Parity | None = None
    created_with: str
    extra: dict = {}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_manifest(bundle: Path) -> Manifest:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise ModelFormatError(f"{bundle} is not a bundle: {MANIFEST} is missing")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleIntegrityError(f"{path} is not valid JSON ({exc}); re-export the bundle") from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleIntegrityError(f"{path}: {where}: {first['msg']}; re-export the bundle") from None
    if manifest.schema_version > SCHEMA_VERSION:
        raise ModelFormatError(
            f"{path} has schema_version {manifest.schema_version}; this edgesplit reads up to "
            f"{SCHEMA_VERSION}: upgrade edgesplit"
        )
    for name in manifest.files:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleIntegrityError(f"{path}: file entry {name!r} points outside the bundle")
    return manifest


def verify_files(bundle: Path, manifest: Manifest) -> None:
    """Raise BundleIntegrityError naming the first file that is missing or was changed."""
    for name, digest in sorted(manifest.files.items()):
        path = Path(bundle) / name
        if not path.is_file():
            raise BundleIntegrityError(f"bundle {bundle}: file {name} is missing; re-export the bundle")
        if sha256_file(path) != digest:
            raise BundleIntegrityError(
                f"bundle {bundle}: file {name} does not match its sha256 in the manifest "
                "(modified or corrupt); re-export the bundle"
            )


def write_manifest(bundle: Path, manifest: Manifest) -> None:
    (Path(bundle) / MANIFEST).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")
