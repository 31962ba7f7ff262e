"""Decoder-only families: Llama (+Mistral), Qwen2, Phi3, Gemma, Gemma3."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from gguf import MODEL_ARCH, GGUFWriter, RopeScalingType

from edge.errors import ExportError

from ..registry import Arch, register


class DecoderArch(Arch):
    """Hyper-parameters shared by llama-style decoders."""

    # llama.cpp's "normal" rope pairs adjacent dims; HF rotates halves: permute q/k for those archs
    permute_qk: ClassVar[bool] = False

    @property
    def head_dim(self) -> int:
        c = self.config
        return int(c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"])

    def write_hparams(self, w: GGUFWriter) -> None:
        c = self.config
        w.add_context_length(int(c.get("max_position_embeddings", 2048)))
        w.add_embedding_length(int(c["hidden_size"]))
        w.add_block_count(self.n_blocks)
        w.add_feed_forward_length(int(c["intermediate_size"]))
        w.add_head_count(int(c["num_attention_heads"]))
        w.add_head_count_kv(int(c.get("num_key_value_heads") or c["num_attention_heads"]))
        w.add_key_length(self.head_dim)
        w.add_value_length(self.head_dim)
        w.add_rope_dimension_count(int(self.head_dim * float(c.get("partial_rotary_factor", 1.0))))
        w.add_rope_freq_base(float(c.get("rope_theta", 10000.0)))
        w.add_layer_norm_rms_eps(float(c.get("rms_norm_eps", 1e-6)))
        self._write_rope_scaling(w)

    def _write_rope_scaling(self, w: GGUFWriter) -> None:
        scaling = self.config.get("rope_scaling")
        if not scaling:
            return
        kind = scaling.get("rope_type") or scaling.get("type")
        if kind != "linear":
            raise ExportError(f"{self.name}: rope_scaling {kind!r} is not supported by this converter "
                              "(only linear); export with rope_scaling removed or use ONNX")
        w.add_rope_scaling_type(RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(scaling["factor"]))

    def transform(self, gguf_name: str, data: np.ndarray) -> np.ndarray:
        if self.permute_qk and gguf_name.endswith(("attn_q.weight", "attn_q.bias")):
            return _permute(data, int(self.config["num_attention_heads"]))
        if self.permute_qk and gguf_name.endswith(("attn_k.weight", "attn_k.bias")):
            c = self.config
            return _permute(data, int(c.get("num_key_value_heads") or c["num_attention_heads"]))
        return data

    def check(self) -> None:
        act = self.config.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise ExportError(f"{self.name}: hidden_act {act!r} differs from llama.cpp's SiLU-gated FFN")


def _permute(data: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder each head's rows from HF's half-split rope layout to llama.cpp's interleaved one."""
    shape = data.shape
    return data.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


@register("LlamaForCausalLM", "MistralForCausalLM")
class Llama(DecoderArch):
    gguf_arch = MODEL_ARCH.LLAMA
    permute_qk = True

    @property
    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", False))


@register("Qwen2ForCausalLM")
class Qwen2(DecoderArch):
    gguf_arch = MODEL_ARCH.QWEN2

    @property
    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", False))


@register("Phi3ForCausalLM")
class Phi3(DecoderArch):
    gguf_arch = MODEL_ARCH.PHI3

    @property
    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", False))

    def write_hparams(self, w: GGUFWriter) -> None:
        super().write_hparams(w)
        if self.config.get("sliding_window"):
            w.add_sliding_window(int(self.config["sliding_window"]))


@register("GemmaForCausalLM")
class Gemma(DecoderArch):
    gguf_arch = MODEL_ARCH.GEMMA

    def check(self) -> None:
        act = self.config.get("hidden_activation") or self.config.get("hidden_act", "gelu_pytorch_tanh")
        if act not in ("gelu_pytorch_tanh", "gelu"):
            raise ExportError(f"{self.name}: activation {act!r} differs from llama.cpp's GELU FFN")

    def transform(self, gguf_name: str, data: np.ndarray) -> np.ndarray:
        # Gemma's RMSNorm multiplies by (1 + w); llama.cpp multiplies by w
        return data + 1.0 if gguf_name.endswith("norm.weight") else data


@register("Gemma3ForCausalLM")
class Gemma3(Gemma):
    gguf_arch = MODEL_ARCH.GEMMA3
    # llama.cpp hard-codes these for Gemma 3 (every 6th layer global, local rope base 1e4)
    SWA_PATTERN: ClassVar[int] = 6
    LOCAL_ROPE_BASE: ClassVar[float] = 10000.0

    def check(self) -> None:
        super().check()
        c = self.config
        fixed = {
            "query_pre_attn_scalar": (c.get("query_pre_attn_scalar", self.head_dim), self.head_dim),
            "rope_local_base_freq": (c.get("rope_local_base_freq", self.LOCAL_ROPE_BASE), self.LOCAL_ROPE_BASE),
            "final_logit_softcapping": (c.get("final_logit_softcapping"), None),
            "attn_logit_softcapping": (c.get("attn_logit_softcapping"), None),
        }
        for key, (value, want) in fixed.items():
            if value != want:
                raise ExportError(f"{self.name}: {key}={value} but llama.cpp's Gemma 3 graph assumes {want}; "
                                  "this checkpoint would give different logits (use ONNX export)")
        layer_types = c.get("layer_types")
        if layer_types:
            want = ["full_attention" if (i + 1) % self.SWA_PATTERN == 0 else "sliding_attention"
                    for i in range(self.n_blocks)]
            if list(layer_types) != want:
                raise ExportError(f"{self.name}: layer_types must put a global layer every "
                                  f"{self.SWA_PATTERN} layers, as llama.cpp assumes")

    def write_hparams(self, w: GGUFWriter) -> None:
        super().write_hparams(w)
        w.add_sliding_window(int(self.config.get("sliding_window", 4096)))
