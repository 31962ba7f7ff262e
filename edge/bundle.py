"""Bundle manifests: the contract between `export` (which writes them) and the runtime.

A bundle is a directory with `manifest.json` listing every file with its sha256. Loading
re-hashes the files and refuses a bundle whose files or manifest were changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import BundleIntegrityError, ModelFormatError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20  # a manifest lists files and a few numbers: kilobytes
MAX_DEPTH = 64  # of nested JSON in a manifest (`extra`); json and pydantic recurse per level
MAX_FILES = 4096  # a bundle holds a few model files; more is not one edgesplit wrote
MAX_NAME_BYTES, MAX_PATH_BYTES = 255, 1024  # per path component (NAME_MAX), per entry
_SHA256 = re.compile(r"[0-9a-f]{64}")


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


def _depth(obj: object) -> int:
    """Nesting depth of decoded JSON, without recursion."""
    deepest, stack = 0, [(obj, 1)] if isinstance(obj, dict | list) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((v, depth + 1) for v in children if isinstance(v, dict | list))
    return deepest


def _load_json(path: Path) -> object:
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleIntegrityError(f"{path} is over {MAX_MANIFEST_BYTES >> 20} MiB; it is not a manifest "
                                       "edgesplit wrote: re-export the bundle")
        data = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting past the C stack
        raise BundleIntegrityError(f"{path} is not valid JSON ({str(exc)[:200]}); re-export the bundle") from None
    except OSError as exc:
        raise BundleIntegrityError(f"{path} cannot be read ({exc.strerror}); re-export the bundle") from None
    if _depth(data) > MAX_DEPTH:
        raise BundleIntegrityError(f"{path} nests JSON deeper than {MAX_DEPTH} levels; re-export the bundle")
    return data


def _check_entry(path: Path, name: str, digest: str) -> None:
    parts = Path(name).parts
    if (not name or "\0" in name or Path(name).is_absolute() or ".." in parts
            or len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES
            or any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts)):
        raise BundleIntegrityError(f"{path}: file entry {name[:80]!r} is not a short relative path inside the "
                                   "bundle; re-export the bundle")
    if not _SHA256.fullmatch(digest):
        raise BundleIntegrityError(f"{path}: file entry {name[:80]!r} has no sha256 hex digest; re-export the bundle")


def read_manifest(bundle: Path) -> Manifest:
    path = Path(bundle) / MANIFEST
    try:
        if not path.is_file():
            raise ModelFormatError(f"{bundle} is not a bundle: {MANIFEST} is missing")
    except OSError as exc:  # a name too long for the file system
        raise ModelFormatError(f"{str(bundle)[:80]}... cannot be a bundle ({exc.strerror})") from None
    data = _load_json(path)
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
    if len(manifest.files) > MAX_FILES:
        raise BundleIntegrityError(f"{path} lists {len(manifest.files)} files (at most {MAX_FILES}); re-export the bundle")
    for name, digest in manifest.files.items():
        _check_entry(path, name, digest)
    return manifest


def verify_files(bundle: Path, manifest: Manifest) -> None:
    """Raise BundleIntegrityError naming the first file that is missing or was changed."""
    for name, digest in sorted(manifest.files.items()):
        path = Path(bundle) / name
        try:
            if not path.is_file():
                raise BundleIntegrityError(f"bundle {bundle}: file {name[:80]} is missing; re-export the bundle")
            same = sha256_file(path) == digest
        except OSError as exc:
            raise BundleIntegrityError(f"bundle {bundle}: file {name[:80]} cannot be read ({exc.strerror}); "
                                       "re-export the bundle") from None
        if not same:
            raise BundleIntegrityError(
                f"bundle {bundle}: file {name} does not match its sha256 in the manifest "
                "(modified or corrupt); re-export the bundle"
            )


def write_manifest(bundle: Path, manifest: Manifest) -> None:
    (Path(bundle) / MANIFEST).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")
