"""What every kit target shares: the model facts it sees, its registry, and its typed refusal.

A target is a small class with `refusal(source)` (why it cannot load this model, or None),
`write(source, kit, setup)` (its own folder layout; returns its settings for the manifest) and
`replay(kit, manifest, golden)` (re-run the golden prompts on its runtime, or say why not).
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edge.errors import ExportError
from edge.models import ModelRef

# target name -> "module:attribute"; a target's runtime imports only when it replays
TARGETS: dict[str, str] = {
    "ort-genai": "export.mobile.ort_genai:TARGET",
    "transformers-js": "export.mobile.transformers_js:TARGET",
    "llama-cpp": "export.mobile.llama_cpp:TARGET",
    "ort-mobile": "export.mobile.ort_mobile:TARGET",
}


class TargetRefusedError(ExportError):
    """A target runtime that cannot load this model; nothing was written."""

    def __init__(self, target: str, reason: str) -> None:
        self.target, self.reason = target, reason
        super().__init__(f"target {target} refused: {reason}")


@dataclass(frozen=True)
class KitSource:
    """The verified model a kit is made from, with the facts every runtime needs to be told."""

    ref: ModelRef
    architecture: str
    encoder_decoder: bool
    quantization: str
    chat_template: str | None
    bos_token: str
    eos_token: str
    add_bos: bool
    eog_token_ids: tuple[int, ...]
    n_ctx_train: int
    n_vocab: int

    @property
    def format(self) -> str:
        return self.ref.format

    @property
    def files(self) -> list[str]:
        return sorted(self.ref.manifest.files) if self.ref.manifest else [self.ref.path.name]

    def special_tokens(self) -> dict[str, Any]:
        return {"bos_token": self.bos_token, "eos_token": self.eos_token, "add_bos": self.add_bos,
                "eog_token_ids": list(self.eog_token_ids)}


@dataclass(frozen=True)
class KitSetup:
    """How the kit is tuned: the hardware profile and the context it was sized for."""

    profile: Any  # edge.profiles.Profile
    context_length: int


@dataclass(frozen=True)
class Replayed:
    """One golden case as a runtime ran it (`prompt_ids` None: the runtime was given the ids)."""

    prompt_ids: list[int] | None
    output_ids: list[int]
    output_text: str | None = None
    rendered: str | None = None  # the runtime's own chat-template rendering, where it has one


class Target(Protocol):
    name: str
    formats: tuple[str, ...]  # source formats it takes
    runtime: str  # what loads it, named as its users know it

    def refusal(self, source: KitSource) -> str | None: ...

    def write(self, source: KitSource, kit: Path, setup: KitSetup) -> dict[str, Any]: ...

    def replay(self, kit: Path, manifest: Any, golden: dict) -> list[Replayed] | str:
        """The runtime's results per golden case, or a sentence saying why it cannot run here."""
        ...


def load_target(name: str) -> Target:
    target = TARGETS.get(name)
    if target is None:
        raise ExportError(f"unknown kit target {name!r}; choose from {', '.join(TARGETS)}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def copy_files(source: KitSource, names: list[str], kit: Path, rename: dict[str, str] | None = None) -> None:
    """Copy bundle members into the kit (optionally under another name)."""
    for name in names:
        dest = kit / (rename or {}).get(name, name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.ref.path / name, dest)


def trim_at_end(ids: list[int], eog: list[int]) -> list[int]:
    """A runtime's new tokens up to (not including) the first end-of-generation token, as the Engine stops."""
    for i, tok in enumerate(ids):
        if tok in eog:
            return ids[:i]
    return ids
