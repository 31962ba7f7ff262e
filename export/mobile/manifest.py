"""The kit manifest: every file's sha256 and size, the model facts an app needs, what it was tuned for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from edge.bundle import sha256_file
from edge.errors import BundleIntegrityError, ModelFormatError

KIT_MANIFEST = "edgesplit-kit.json"
KIT_SCHEMA = 1
MAX_KIT_MANIFEST_BYTES = 16 << 20  # file names, hashes and a chat template: kilobytes


class KitFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str
    size: int


class KitManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = KIT_SCHEMA
    target: str
    runtime: str
    model: str
    architecture: str
    quantization: str
    context_length: int
    ram_needed_mb: float  # weights + KV cache at context_length (edge.profiles' memory model)
    memory: dict[str, Any]
    profile: dict[str, Any]
    chat_template: str | None
    special_tokens: dict[str, Any]
    golden: str
    settings: dict[str, Any] = {}
    source: dict[str, Any] = {}
    files: dict[str, KitFile]
    created_with: str


def hash_files(kit: Path) -> dict[str, KitFile]:
    return {str(p.relative_to(kit)): KitFile(sha256=sha256_file(p), size=p.stat().st_size)
            for p in sorted(kit.rglob("*")) if p.is_file() and p.name != KIT_MANIFEST}


def write_kit_manifest(kit: Path, manifest: KitManifest) -> None:
    (kit / KIT_MANIFEST).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")


def is_kit(path: Path) -> bool:
    return (Path(path) / KIT_MANIFEST).is_file()


def read_kit_manifest(kit: Path) -> KitManifest:
    path = Path(kit) / KIT_MANIFEST
    try:
        if path.stat().st_size > MAX_KIT_MANIFEST_BYTES:
            raise ValueError(f"over {MAX_KIT_MANIFEST_BYTES >> 20} MiB")
        manifest = KitManifest.model_validate(json.loads(path.read_bytes()))
    except (OSError, ValueError, RecursionError) as exc:  # unreadable, not JSON, too deep, or not this schema
        where = exc.errors()[0]["loc"] if isinstance(exc, ValidationError) else ""
        raise BundleIntegrityError(f"{path} is not a kit manifest ({where or str(exc)[:200]}); "
                                   "re-export the kit with `edgesplit export mobile`") from None
    if manifest.schema_version > KIT_SCHEMA:
        raise ModelFormatError(f"{path} has schema_version {manifest.schema_version}; upgrade edgesplit")
    return manifest


def verify_kit_files(kit: Path, manifest: KitManifest) -> None:
    """BundleIntegrityError naming the first file that is missing, outside the kit, resized or changed."""
    root = Path(kit).resolve()
    for name, entry in sorted(manifest.files.items()):
        path = (root / name).resolve()
        if root not in path.parents:
            raise BundleIntegrityError(f"kit {kit}: entry {name[:80]!r} points outside the kit; re-export it")
        if not path.is_file():
            raise BundleIntegrityError(f"kit {kit}: file {name} is missing; re-export the kit")
        if path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
            raise BundleIntegrityError(f"kit {kit}: file {name} does not match its size/sha256 in "
                                       f"{KIT_MANIFEST} (modified or corrupt); re-export the kit")
