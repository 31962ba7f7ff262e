"""Write bundles atomically: build everything in a temp dir beside OUT, then rename.

An interrupted or failed export leaves nothing at OUT (and nothing half-written beside it).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from edge import __version__
from edge.bundle import MANIFEST, Manifest, new_manifest, sha256_file, write_manifest
from edge.errors import ExportError


@contextlib.contextmanager
def staging(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp directory; on success it becomes `out`, on any error it is removed."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists: choose another output path or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def finish_manifest(bundle: Path, **fields) -> Manifest:
    """Hash every file in `bundle` and write manifest.json (call last, inside `staging`); `format` picks the type."""
    files = {
        str(p.relative_to(bundle)): sha256_file(p)
        for p in sorted(Path(bundle).rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    fields.setdefault("created_with", f"edgesplit {__version__} ({datetime.now(UTC).isoformat(timespec='seconds')})")
    manifest = new_manifest(files=files, **fields)
    write_manifest(bundle, manifest)
    return manifest
