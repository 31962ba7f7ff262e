"""BitNet b1.58: transformers' `BitNetForCausalLM` and the older `BitnetForCausalLM` naming.

llama.cpp's BITNET graph is a llama block with two extra RMSNorms (after attention and inside
the FFN) and always a SiLU-gated FFN. transformers' BitNetConfig defaults to `relu2`, which
llama.cpp cannot express: such checkpoints are refused rather than exported with wrong logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gguf import MODEL_ARCH

from edge.errors import ExportError

from ..registry import register
from .decoder import DecoderArch

# new transformers names -> the names gguf's TensorNameMap knows (the older BitNet release)
_NEW_TO_OLD = {r"\.self_attn\.attn_sub_norm\.": ".self_attn.inner_attn_ln.",
               r"\.mlp\.ffn_sub_norm\.": ".mlp.ffn_layernorm."}
_OLD_TO_NEW = {".self_attn.inner_attn_ln.": ".self_attn.attn_sub_norm.",
               ".mlp.ffn_layernorm.": ".mlp.ffn_sub_norm."}


@register("BitNetForCausalLM", "BitnetForCausalLM")
class BitNet(DecoderArch):
    gguf_arch = MODEL_ARCH.BITNET
    aliases = _NEW_TO_OLD
    default_ternarize = "absmean"

    def check(self) -> None:
        if not self.tied:
            raise ExportError(f"{self.name}: llama.cpp's BITNET graph reuses the token embeddings as the output "
                              "layer, but this checkpoint has its own lm_head; use `edgesplit export onnx`")
        act = self.config.get("hidden_act", "relu2")
        if act not in ("silu", "swish"):
            raise ExportError(
                f"{self.name}: hidden_act={act!r}, but llama.cpp's BITNET graph always uses a SiLU-gated "
                "FFN, so the GGUF would compute different logits; export this checkpoint with "
                "`edgesplit export onnx` instead (or retrain with hidden_act='silu')"
            )

    def reference_state_dict(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """transformers only has the new naming: rename old checkpoints for the reference model."""
        out = {}
        for name, data in tensors.items():
            for old, new in _OLD_TO_NEW.items():
                name = name.replace(old, new)
            out[name] = data
        return out

    def reference_config(self) -> dict[str, Any]:
        return {**self.config, "model_type": "bitnet", "architectures": ["BitNetForCausalLM"]}
