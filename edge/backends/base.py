"""The Backend protocol every runtime implements, and the registry that names them.

A backend turns prompt token ids into a stream of generated token ids; the Engine around it
does chat templates, stop strings, UTF-8 assembly and timings once, for all backends.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..errors import BackendUnavailableError, UnknownBackendError

if TYPE_CHECKING:
    from ..models import ModelRef
    from ..options import RuntimeOptions
    from ..sampling import SamplingParams


@dataclass(frozen=True)
class Capabilities:
    streaming: bool = True
    json_schema: bool = False
    encoder_decoder: bool = False
    logits: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """What the Engine needs to know about a loaded model, whatever the backend."""

    architecture: str
    n_ctx: int  # context the backend was loaded with
    n_ctx_train: int
    n_vocab: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    add_bos: bool
    encoder_decoder: bool = False
    n_params: int | None = None
    file_bytes: int | None = None


@runtime_checkable
class Backend(Protocol):
    name: str
    capabilities: Capabilities
    info: ModelInfo

    def tokenize(self, text: str, *, add_bos: bool, special: bool = True) -> list[int]: ...

    def detokenize(self, ids: list[int]) -> bytes: ...

    def is_end_of_generation(self, token_id: int) -> bool: ...

    def generate(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[int]:
        """Yield generated token ids until the caller stops iterating."""
        ...

    def next_token_logits(self, prompt_ids: list[int]) -> np.ndarray:
        """Raw next-token logits after `prompt_ids` (for logprobs and collaboration)."""
        ...

    def close(self) -> None: ...


BackendLoader = Callable[["ModelRef", "RuntimeOptions"], Backend]

# name -> "module:attribute" so that importing edge never imports llama_cpp or onnxruntime
_REGISTRY: dict[str, str] = {}
_FORMATS: dict[str, str] = {}


def register_backend(name: str, target: str, *, formats: tuple[str, ...] = ()) -> None:
    """Register a backend by import path; `formats` are model formats it runs by default."""
    if name in _REGISTRY:
        raise ValueError(f"backend {name!r} is already registered")
    _REGISTRY[name] = target
    for fmt in formats:
        _FORMATS.setdefault(fmt, name)


def known_backends() -> list[str]:
    return sorted(_REGISTRY)


def backend_for_format(fmt: str) -> str:
    try:
        return _FORMATS[fmt]
    except KeyError:
        raise UnknownBackendError(f"no backend runs the model format {fmt!r}") from None


def load_backend_class(name: str) -> type:
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownBackendError(
            f"unknown backend {name!r}; known backends: {', '.join(known_backends())}"
        ) from None
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {name!r} needs a package that is not installed ({exc.name}); "
            f"install it with `pip install 'edgesplit[{_EXTRAS.get(name, 'all')}]'`"
        ) from None


_EXTRAS = {"llamacpp": "gguf", "onnxruntime": "onnx"}

register_backend("llamacpp", "edge.backends.llamacpp:LlamaCppBackend", formats=("gguf",))
register_backend("onnxruntime", "edge.backends.onnxruntime:OnnxRuntimeBackend", formats=("onnx",))
