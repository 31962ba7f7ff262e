"""Prompt caching: saved KV states of prompt prefixes, in memory (LRU) and on disk.

The policy (cache.py) is runtime-independent; a backend supplies a small state adapter
(llama_state.py for llama.cpp) and calls `PromptCache.prepare(prompt_ids)` before its prefill.
"""

from .cache import Limits, PromptCache, Stats, totals
from .config import ENV, MODES, cache_mode, disk_root
from .disk import BadEntry, DiskStore

__all__ = ["ENV", "MODES", "BadEntry", "DiskStore", "Limits", "PromptCache", "Stats", "cache_mode", "disk_root",
           "totals"]
