"""The Backend protocol every runtime implements, and the registry that names them.

A backend turns prompt token ids into a stream of generated token ids; the Engine around it
does chat templates, stop strings, UTF-8 assembly and timings once, for all backends.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..errors import BackendUnavailableError, UnknownBackendError

if TYPE_CHECKING:
    from ..models import ModelRef
    from ..options import RuntimeOptions
    from ..sampling import SamplingParams
    from ..speculate.stats import SpecStats


# A per-step logits hook: (tokens generated so far, next-token logits) -> logits to sample from.
# It runs before grammar masks and sampling; logit fusion and collaboration plug in here.
LogitsHook = Callable[[list[int], np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; the Engine checks these instead of sniffing attributes."""

    streaming: bool = True
    json_schema: bool = False  # JSON-schema and grammar-constrained output
    encoder_decoder: bool = False
    logits: bool = False  # next_token_logits
    logprobs: bool = False  # last_logits while generate is paused at a token
    logits_hook: bool = False  # generate(..., hook=) applies a LogitsHook at every step
    interruptible: bool = False  # interruptible(event) stops a running forward pass


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
    execution_providers: tuple[str, ...] = ()  # ONNX Runtime providers in use, best first


@runtime_checkable
class Backend(Protocol):
    """Backends subclass this explicitly, so that they inherit the defaults (`speculation`)."""

    name: str
    capabilities: Capabilities
    info: ModelInfo

    def tokenize(self, text: str, *, add_bos: bool, special: bool = True) -> list[int]: ...

    def detokenize(self, ids: list[int], special: bool = False) -> bytes:
        """The bytes of `ids`; special tokens are empty unless `special` (then their text, e.g. `<|im_end|>`)."""
        ...

    def is_end_of_generation(self, token_id: int) -> bool: ...

    def generate(self, prompt_ids: list[int], params: SamplingParams,
                 hook: LogitsHook | None = None) -> Iterator[int]:
        """Yield generated token ids until the caller stops iterating; `hook` edits each step's logits."""
        ...

    def next_token_logits(self, prompt_ids: list[int]) -> np.ndarray:
        """Raw next-token logits after `prompt_ids` (for logprobs and collaboration)."""
        ...

    @property
    def last_logits(self) -> np.ndarray:
        """The raw logits the last yielded token was sampled from (with `capabilities.logprobs`)."""
        ...

    def interruptible(self, cancelled: threading.Event) -> AbstractContextManager[None]:
        """Inside the block a set `cancelled` stops a running forward pass (`capabilities.interruptible`)."""
        ...

    @property
    def speculation(self) -> SpecStats | None:
        """What speculative decoding did in the last `generate` (None: it did not run)."""
        return None

    def close(self) -> None: ...


BackendLoader = Callable[["ModelRef", "RuntimeOptions"], Backend]

# name -> {model kind -> "module:attribute"}, so that importing edge never imports llama_cpp or
# onnxruntime; the kind ("decoder" | "encoder_decoder") picks the class for the model at hand
_REGISTRY: dict[str, dict[str, str]] = {}
_FORMATS: dict[str, str] = {}
MODEL_KINDS = ("decoder", "encoder_decoder")


def register_backend(name: str, target: str, *, formats: tuple[str, ...] = (),
                     encoder_decoder: str | None = None) -> None:
    """Register a backend by import path; `formats` are model formats it runs by default.

    `encoder_decoder` names a different class for encoder-decoder models of the same format;
    without it `target` runs both kinds.
    """
    if name in _REGISTRY:
        raise ValueError(f"backend {name!r} is already registered")
    _REGISTRY[name] = {"decoder": target, "encoder_decoder": encoder_decoder or target}
    for fmt in formats:
        _FORMATS.setdefault(fmt, name)


def known_backends() -> list[str]:
    return sorted(_REGISTRY)


def backend_for_format(fmt: str) -> str:
    try:
        return _FORMATS[fmt]
    except KeyError:
        raise UnknownBackendError(f"no backend runs the model format {fmt!r}") from None


def load_backend_class(name: str, kind: str = "decoder") -> type:
    """The class that runs a model of `kind` on backend `name` (imported on first use)."""
    try:
        target = _REGISTRY[name][kind]
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

# encoder-decoder GGUFs (T5) need llama_encode, which llama-cpp-python's high-level Llama never calls
register_backend("llamacpp", "edge.backends.llamacpp:LlamaCppBackend", formats=("gguf",),
                 encoder_decoder="edge.backends.llamacpp_encdec:LlamaCppEncDecBackend")
register_backend("onnxruntime", "edge.backends.onnxruntime:OnnxRuntimeBackend", formats=("onnx",))
