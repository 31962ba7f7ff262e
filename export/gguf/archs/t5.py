"""Encoder-decoder families: T5 (llama.cpp `t5`), and BART, which llama.cpp cannot run."""

from __future__ import annotations

from typing import ClassVar

from gguf import MODEL_ARCH, GGUFWriter

from edge.errors import ExportError

from ..registry import Arch, refuse, register

_BART = ("{arch} is ONNX-only: llama.cpp has no BART-style encoder-decoder graph. Export it with "
         "`edgesplit export onnx SRC OUT` and run it on the onnxruntime backend")
for _name in ("BartForConditionalGeneration", "MBartForConditionalGeneration"):
    refuse(_name, _BART.format(arch=_name))


@register("T5ForConditionalGeneration")
class T5(Arch):
    gguf_arch = MODEL_ARCH.T5
    auto_class = "AutoModelForSeq2SeqLM"
    encoder_decoder = True
    skip = (r"^(encoder|decoder)\.embed_tokens\.weight$",)
    # llama.cpp hard-codes the bucket distance; gated FFNs are GELU, plain ones ReLU
    MAX_DISTANCE: ClassVar[int] = 128
    FFN: ClassVar[tuple[str, ...]] = ("relu", "gated-gelu")

    @property
    def n_blocks(self) -> int:
        return int(self.config["num_layers"])

    @property
    def tied(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", True))

    def check(self) -> None:
        c = self.config
        if c.get("feed_forward_proj", "relu") not in self.FFN:
            raise ExportError(f"{self.name}: feed_forward_proj={c.get('feed_forward_proj')!r}; llama.cpp's "
                              f"T5 graph supports {' and '.join(self.FFN)} only")
        if int(c.get("relative_attention_max_distance", self.MAX_DISTANCE)) != self.MAX_DISTANCE:
            raise ExportError(f"{self.name}: relative_attention_max_distance must be {self.MAX_DISTANCE} "
                              "(llama.cpp hard-codes it)")
        n_dec = int(c.get("num_decoder_layers") or c["num_layers"])
        if n_dec != int(c["num_layers"]):
            raise ExportError(f"{self.name}: {c['num_layers']} encoder vs {n_dec} decoder layers; llama.cpp's "
                              "T5 loader needs the same number of each")

    def write_hparams(self, w: GGUFWriter) -> None:
        c = self.config
        w.add_context_length(int(c.get("n_positions", 512)))
        w.add_embedding_length(int(c["d_model"]))
        w.add_feed_forward_length(int(c["d_ff"]))
        w.add_block_count(self.n_blocks)
        w.add_head_count(int(c["num_heads"]))
        w.add_key_length(int(c["d_kv"]))
        w.add_value_length(int(c["d_kv"]))
        eps = float(c.get("layer_norm_epsilon", 1e-6))
        w.add_layer_norm_eps(eps)
        w.add_layer_norm_rms_eps(eps)
        w.add_relative_attn_buckets_count(int(c.get("relative_attention_num_buckets", 32)))
        w.add_decoder_start_token_id(int(c.get("decoder_start_token_id", c.get("pad_token_id", 0))))
