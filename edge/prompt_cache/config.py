"""Whether and where prompts are cached: one home for the switch and the folder.

`RuntimeOptions.prompt_cache` is "on" (memory + disk), "memory" or "off"; the environment
variable EDGESPLIT_PROMPT_CACHE, when set, overrides it for a whole process (benchmarks, CLI runs).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidRequestError
from ..models import edgesplit_home
from ..options import PROMPT_CACHE_MODES as MODES

ENV = "EDGESPLIT_PROMPT_CACHE"


def cache_mode(options) -> str:
    mode = os.environ.get(ENV) or getattr(options, "prompt_cache", "on")
    if mode not in MODES:
        raise InvalidRequestError(f"prompt cache mode must be one of {', '.join(MODES)}, got {mode!r} "
                                  f"(RuntimeOptions.prompt_cache or ${ENV})")
    return mode


def disk_root() -> Path:
    return edgesplit_home() / "cache" / "prompts"
