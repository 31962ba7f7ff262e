"""Runtime options a backend is loaded with (threads, context, KV cache...).

Hardware profiles resolve to these; callers may also pass them directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Literal

from .errors import InvalidRequestError
from .runtimes.llamacpp import KV_CACHE

KV_TYPES = tuple(KV_CACHE)  # llama.cpp's KV-cache types; ONNX Runtime keeps its cache in the model's dtype
PROMPT_CACHE_MODES = ("on", "memory", "off")  # memory + disk, memory only, none (edge/prompt_cache)
# draft-free speculative decoding (edge.speculate): "auto" drafts only where the backend's batched
# passes are bit-exact (same greedy output), "on" (auto's drafters), "ngram" and "recycle" everywhere
SPECULATIVE_MODES = ("auto", "off", "on", "ngram", "recycle")
SpeculativeMode = Literal["auto", "off", "on", "ngram", "recycle"]


def physical_cores() -> int:
    """Physical core count (logical count if psutil cannot tell)."""
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except Exception:  # psutil missing or unsupported platform
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RuntimeOptions:
    n_threads: int = 0  # 0 = physical cores
    n_ctx: int = 2048
    n_batch: int = 512
    flash_attn: bool = True  # +10-20 % decode on llama.cpp (FINDINGS.md)
    use_mmap: bool = True
    use_mlock: bool = False
    kv_type: str = "f16"
    execution_providers: tuple[str, ...] = ("CPU",)
    # ONNX Runtime's intra-op threads busy-wait between ops: faster only on cores nothing else uses
    ort_spinning: bool = False
    prompt_cache: str = "on"  # "on" (memory + disk), "memory", "off": see edge/prompt_cache/config.py
    # "auto": speculate where it is lossless and pays, else decode plainly (README, Speculative decoding)
    speculative: SpeculativeMode = "auto"

    def __post_init__(self) -> None:
        if self.n_threads < 0:
            raise InvalidRequestError(f"n_threads must be >= 0, got {self.n_threads}")
        if self.n_batch < 1:
            raise InvalidRequestError(f"n_batch must be >= 1, got {self.n_batch}")
        if self.n_ctx < 16:
            raise InvalidRequestError(f"context length must be >= 16, got {self.n_ctx}")
        if self.kv_type not in KV_TYPES:
            raise InvalidRequestError(f"kv_type must be one of {', '.join(KV_TYPES)}, got {self.kv_type!r}")
        if self.prompt_cache not in PROMPT_CACHE_MODES:
            raise InvalidRequestError(f"prompt_cache must be one of {', '.join(PROMPT_CACHE_MODES)}, "
                                      f"got {self.prompt_cache!r}")
        if self.speculative not in SPECULATIVE_MODES:
            raise InvalidRequestError(f"speculative must be one of {', '.join(SPECULATIVE_MODES)}, "
                                      f"got {self.speculative!r}")

    @property
    def threads(self) -> int:
        return self.n_threads or physical_cores()

    def with_(self, **changes) -> RuntimeOptions:
        return replace(self, **changes)
