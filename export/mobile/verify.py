"""`edgesplit verify KIT`: re-hash a kit's files and replay its golden file on the runtime installed here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.errors import BundleIntegrityError

from .base import load_target
from .golden import compare
from .manifest import is_kit, read_kit_manifest, verify_kit_files


def kits_in(path: Path) -> list[Path]:
    """PATH itself when it is a kit, else the kits directly inside it (an `export mobile` OUT)."""
    path = Path(path)
    if is_kit(path):
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and is_kit(p)) if path.is_dir() else []


def verify_kit(kit: Path) -> dict[str, Any]:
    """hashes_ok, the golden-file agreement (or why the runtime was skipped) and passed."""
    manifest = read_kit_manifest(kit)
    report: dict[str, Any] = {"kit": str(kit), "target": manifest.target, "runtime": manifest.runtime}
    try:
        verify_kit_files(kit, manifest)
    except BundleIntegrityError as exc:
        return {**report, "hashes_ok": False, "error": str(exc), "passed": False}
    golden = json.loads((Path(kit) / manifest.golden).read_text())
    try:
        got = load_target(manifest.target).replay(Path(kit), manifest, golden)
    except Exception as exc:  # a runtime that cannot load the kit raises its own types (RuntimeError, OrtException)
        return {**report, "hashes_ok": True, "error": f"{type(exc).__name__}: {str(exc)[:400]}", "passed": False}
    if isinstance(got, str):
        return {**report, "hashes_ok": True, "golden": {"skipped": got}, "passed": True}
    agreement = compare(golden, got, manifest.runtime)
    return {**report, "hashes_ok": True, "golden": agreement, "passed": agreement["passed"]}


def verify_kits(path: Path) -> list[dict[str, Any]]:
    return [verify_kit(k) for k in kits_in(path)]
