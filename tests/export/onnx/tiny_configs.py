"""Small random-model configs, one per registered ONNX architecture (keyed like the registry)."""

from __future__ import annotations

from typing import Any

VOCAB = 512
# pad/bos/eos ids of the locally trained tokenizer (tests/export/conftest.py SPECIAL)
SPECIAL_IDS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
DECODER = {
    "vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256, **SPECIAL_IDS,
}
SLIDING = {"sliding_window": 8}  # prompts in the tests are longer than this

TINY: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("LlamaConfig", {**DECODER, "tie_word_embeddings": True}),
    "qwen2": ("Qwen2Config", {**DECODER, "tie_word_embeddings": False}),
    "qwen3": ("Qwen3Config", {**DECODER, "head_dim": 16}),
    "phi3": ("Phi3Config", {**DECODER, "pad_token_id": 0}),
    "gemma": ("GemmaConfig", {**DECODER, "head_dim": 16}),
    "gemma2": ("Gemma2Config", {**DECODER, **SLIDING, "head_dim": 16}),
    "gemma3_text": ("Gemma3TextConfig", {**DECODER, **SLIDING, "head_dim": 16, "sliding_window_pattern": 2}),
    "bitnet": ("BitNetConfig", {**DECODER}),
    "t5": ("T5Config", {"vocab_size": VOCAB, "d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2,
                        "num_decoder_layers": 2, "num_heads": 4, "decoder_start_token_id": 0, **SPECIAL_IDS}),
    "bart": ("BartConfig", {"vocab_size": VOCAB, "d_model": 64, "encoder_layers": 2, "decoder_layers": 2,
                            "encoder_attention_heads": 4, "decoder_attention_heads": 4,
                            "encoder_ffn_dim": 128, "decoder_ffn_dim": 128, "max_position_embeddings": 256,
                            "decoder_start_token_id": 2, "forced_bos_token_id": None, **SPECIAL_IDS}),
}

# llama variants beside the registry's one (tied): the fused graph's other head, and a rope it refuses
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "llama-untied": ("LlamaConfig", {**DECODER, "tie_word_embeddings": False}),
    "llama-dynamic-rope": ("LlamaConfig", {**DECODER, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}),
}
