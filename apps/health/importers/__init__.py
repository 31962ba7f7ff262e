"""Importer registry: one module per export format, chosen by name or detected from the file.

Each module defines `FORMAT`, `detect(probe) -> bool` and `read(path, tz=None) -> ImportResult`.
    from apps.health.importers import import_file
    result = import_file("export.zip")          # detected: Apple Health
    result = import_file("takeout/", fmt="fitbit", tz="Europe/Berlin")
"""

from __future__ import annotations

import importlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..errors import HealthImportError
from ..schema import ImportResult

#: format name -> module; the order is the detection order
IMPORTERS: dict[str, str] = {
    "apple": "apps.health.importers.apple",
    "healthconnect": "apps.health.importers.healthconnect",
    "fitbit": "apps.health.importers.fitbit",
    "csv": "apps.health.importers.csv_generic",
}


def register_importer(name: str, module: str) -> None:
    if name in IMPORTERS:
        raise ValueError(f"importer {name!r} is already registered")
    IMPORTERS[name] = module


@dataclass
class Probe:
    """What detection looks at: the path, its suffix, zip member names, the first bytes."""

    path: Path
    names: list[str] = field(default_factory=list)  # zip members or directory files
    head: bytes = b""

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()


def _probe(path: Path) -> Probe:
    if path.is_dir():
        return Probe(path, [str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()])
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                return Probe(path, zf.namelist(), head)
        except (zipfile.BadZipFile, OSError) as exc:
            raise HealthImportError(f"{path.name} is not a readable zip file (corrupt or truncated: {exc}); "
                                    "export it again from the phone") from None
    return Probe(path, [], head)


def _module(name: str) -> ModuleType:
    if name not in IMPORTERS:
        raise HealthImportError(f"unknown export format {name!r}; known: {', '.join(IMPORTERS)}")
    return importlib.import_module(IMPORTERS[name])


def detect_format(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise HealthImportError(f"{path} does not exist: give the path of a wearable export")
    probe = _probe(path)
    for name in IMPORTERS:
        if _module(name).detect(probe):
            return name
    raise HealthImportError(f"cannot tell the format of {path.name}: expected an Apple Health export.zip/"
                            f"export.xml, a Fitbit/Takeout folder or zip, a Health Connect .db, or a CSV "
                            f"(pass the format explicitly: {', '.join(IMPORTERS)})")


def import_file(path: str | Path, fmt: str | None = None, tz: str | None = None) -> ImportResult:
    """Read an export into canonical daily records; `tz` is used where the format has no offsets."""
    path = Path(path)
    name = fmt or detect_format(path)
    if not path.exists():
        raise HealthImportError(f"{path} does not exist: give the path of a wearable export")
    return _module(name).read(path, tz=tz)
