"""Hyper-parameter checks for GGUF metadata: the values llama.cpp asserts on, refused first.

llama.cpp's loader and first decode `GGML_ASSERT` on out-of-range hyper-parameters (layer count,
expert counts, head counts, rope scaling type, norm epsilon), which aborts the whole process.
Each rule here mirrors one of those asserts (llama-model.cpp `load_hparams`, ggml's norms), so
such a file gets a ModelFormatError instead. What no rule covers is caught by `gguf_probe`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_LAYERS = 512  # LLAMA_MAX_LAYERS
MAX_EXPERTS = 1024  # LLAMA_MAX_EXPERTS
MAX_CTX = 1 << 24  # beyond any released model; 0xffffffff overflows n_ctx arithmetic
MAX_DIM = 1 << 20  # embedding / head sizes / feed-forward width
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")
EPS_KEYS = ("attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon")


class HParamError(ValueError):
    """One hyper-parameter out of the range llama.cpp accepts (message names the key)."""


@dataclass(frozen=True)
class _View:
    """The metadata of one file, read through the architecture's key prefix."""

    arch: str
    kv: Mapping[str, object]

    def has(self, key: str) -> bool:
        return f"{self.arch}.{key}" in self.kv

    def int(self, key: str, default: int | None = None) -> int | None:
        value = self.kv.get(f"{self.arch}.{key}", default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise HParamError(f"{self.arch}.{key} must be an integer, not {value!r:.40}")
        return value

    def ints(self, key: str, n_layer: int, default: int = 0) -> tuple[int, ...]:
        """A per-layer value: one integer for all layers, or an array of n_layer integers."""
        value = self.kv.get(f"{self.arch}.{key}", default)
        if isinstance(value, tuple):
            if len(value) != n_layer or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise HParamError(f"{self.arch}.{key} must be an integer or {n_layer} integers (one per layer)")
            return value
        return (self.int(key, default) or 0,) * n_layer

    def float(self, key: str) -> float | None:
        value = self.kv.get(f"{self.arch}.{key}")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise HParamError(f"{self.arch}.{key} must be a number, not {value!r:.40}")
        return float(value)


def _in_range(name: str, value: int | None, lo: int, hi: int) -> None:
    if value is not None and not lo <= value <= hi:
        raise HParamError(f"{name} = {value} is out of range ({lo}..{hi})")


def _layers(v: _View) -> None:
    n_layer = v.int("block_count")
    if n_layer is None:
        raise HParamError(f"{v.arch}.block_count is missing")
    _in_range(f"{v.arch}.block_count", n_layer, 1, MAX_LAYERS)
    _in_range(f"{v.arch}.nextn_predict_layers", v.int("nextn_predict_layers"), 0, n_layer)


def _sizes(v: _View) -> None:
    if v.int("context_length") is None or v.int("embedding_length") is None:
        raise HParamError(f"{v.arch}.context_length and {v.arch}.embedding_length are required")
    _in_range(f"{v.arch}.context_length", v.int("context_length"), 1, MAX_CTX)
    _in_range(f"{v.arch}.embedding_length", v.int("embedding_length"), 1, MAX_DIM)
    for ff in v.ints("feed_forward_length", v.int("block_count") or 1):
        _in_range(f"{v.arch}.feed_forward_length", ff, 0, MAX_DIM * 64)


def _heads(v: _View) -> None:
    n_layer, n_embd = v.int("block_count") or 1, v.int("embedding_length") or 1
    heads = v.ints("attention.head_count", n_layer)
    kv_heads = v.ints("attention.head_count_kv", n_layer, default=heads[0]) if v.has(
        "attention.head_count_kv") else heads
    for n_head, n_kv in zip(heads, kv_heads, strict=True):
        _in_range(f"{v.arch}.attention.head_count", n_head, 0, MAX_DIM)
        _in_range(f"{v.arch}.attention.head_count_kv", n_kv, 0, n_head)
        if n_head and (n_kv == 0 or n_head % n_kv):
            raise HParamError(f"{v.arch}.attention.head_count {n_head} is not a multiple of head_count_kv {n_kv}")
    n_head = max(heads)
    if not n_head:
        return
    for key in ("attention.key_length", "attention.value_length"):
        _in_range(f"{v.arch}.{key}", v.int(key), 1, MAX_DIM)
    head_k = v.int("attention.key_length") or n_embd // n_head
    if not v.has("attention.key_length") and n_embd % n_head:
        raise HParamError(f"{v.arch}.embedding_length {n_embd} is not a multiple of attention.head_count {n_head}")
    rot = v.int("rope.dimension_count")
    _in_range(f"{v.arch}.rope.dimension_count", rot, 0, head_k)
    if rot is not None and rot % 2:
        raise HParamError(f"{v.arch}.rope.dimension_count {rot} must be even")


def _experts(v: _View) -> None:
    n_expert = v.int("expert_count", 0) or 0
    used = max(v.ints("expert_used_count", v.int("block_count") or 1))
    groups, group_used = v.int("expert_group_count", 0) or 0, v.int("expert_group_used_count", 0) or 0
    _in_range(f"{v.arch}.expert_count", n_expert, 0, MAX_EXPERTS)
    _in_range(f"{v.arch}.expert_used_count", used, 1 if n_expert else 0, n_expert)
    if n_expert == 0 and groups:
        raise HParamError(f"{v.arch}.expert_group_count {groups} needs expert_count > 0")
    _in_range(f"{v.arch}.expert_group_count", groups, 0, max(n_expert - 1, 0))
    if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
        raise HParamError(f"{v.arch}.expert_group_count {groups} must divide expert_count {n_expert}, and "
                          f"expert_group_used_count ({group_used}) must be in 1..{groups - 1}")


def _floats(v: _View) -> None:
    for key in EPS_KEYS:
        eps = v.float(key)
        if eps is not None and not (math.isfinite(eps) and 0 < eps < 1):
            raise HParamError(f"{v.arch}.{key} = {eps} must be a small positive number (e.g. 1e-5)")
    for key in ("rope.freq_base", "rope.scaling.factor", "rope.scaling.attn_factor"):
        value = v.float(key)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise HParamError(f"{v.arch}.{key} = {value} must be a finite number >= 0")
    scaling = v.kv.get(f"{v.arch}.rope.scaling.type")
    if scaling is not None and scaling not in ROPE_SCALING_TYPES:
        raise HParamError(f"{v.arch}.rope.scaling.type {scaling!r:.40} is not one of {', '.join(ROPE_SCALING_TYPES)}")


# one rule per group of llama.cpp asserts; each raises HParamError naming the key
RULES: tuple[Callable[[_View], None], ...] = (_layers, _sizes, _heads, _experts, _floats)


def check_hparams(arch: str, kv: Mapping[str, object]) -> None:
    """Raise HParamError for the first hyper-parameter llama.cpp would abort on."""
    view = _View(arch, kv)
    for rule in RULES:
        rule(view)
