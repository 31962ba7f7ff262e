"""llama.cpp's side of the prompt cache: sequence 0's KV state through llama_state_seq_*."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

from ..models import ModelRef, edgesplit_home
from ..options import RuntimeOptions
from .cache import Limits, PromptCache
from .config import cache_mode, disk_root
from .disk import DiskStore
from .keys import file_sha256, fingerprint

_SEQ = 0  # llama-cpp-python decodes every batch into sequence 0


class LlamaStateAdapter:
    def __init__(self, llm, lib) -> None:
        self._llm, self._lib = llm, lib

    def evaluated(self) -> list[int]:
        return self._llm.input_ids[: self._llm.n_tokens].tolist()

    def snapshot(self) -> bytes:
        ctx = self._llm._ctx.ctx
        size = self._lib.llama_state_seq_get_size(ctx, _SEQ)
        buf = (ctypes.c_uint8 * size)()
        n = self._lib.llama_state_seq_get_data(ctx, buf, size, _SEQ)
        return ctypes.string_at(buf, n)

    def restore(self, tokens: Sequence[int], state: bytes) -> bool:
        """Replace the KV cache with a saved state; on refusal the cache is left empty, never half-set."""
        llm = self._llm
        if len(tokens) >= llm.input_ids.shape[0]:
            return False
        llm._ctx.kv_cache_clear()
        llm.n_tokens, llm._requires_eval = 0, True
        buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if self._lib.llama_state_seq_set_data(llm._ctx.ctx, buf, len(state), _SEQ) != len(state):
            llm._ctx.kv_cache_clear()
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        return True

    def truncate(self, n: int) -> None:
        llm = self._llm
        if n < llm.n_tokens and llm._ctx.kv_cache_seq_rm(-1, n, -1):
            llm.n_tokens, llm._requires_eval = n, True
        elif n < llm.n_tokens:
            llm.reset()

    def eval(self, tokens: Sequence[int]) -> None:
        if tokens:
            self._llm.eval(list(tokens))


def for_llamacpp(llm, lib, ref: ModelRef, options: RuntimeOptions, n_ctx: int) -> PromptCache | None:
    """The prompt cache for one loaded llama.cpp model, or None where caching is off."""
    mode = cache_mode(options)
    if mode == "off":
        return None
    path = ref.weights_file
    state_options = {"kv_type": options.kv_type, "n_ctx": n_ctx, "flash_attn": options.flash_attn,
                     "llama_cpp": getattr(lib, "__version__", "?")}
    memo = edgesplit_home() / "cache" / "model-hashes.json"
    fp = fingerprint(file_sha256(path, memo), "llamacpp", state_options)
    limits = Limits()
    disk = DiskStore(disk_root, limits.disk_bytes) if mode == "on" else None
    meta = {"model": ref.name, "backend": "llamacpp", **state_options}
    return PromptCache(LlamaStateAdapter(llm, lib), fp, disk, limits, meta)
