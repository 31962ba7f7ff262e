"""`ort-genai/`: the folder onnxruntime-genai loads (its Android, iOS, C#, Java and Python APIs alike).

genai_config.json names the decoder graph, its input/output names (edgesplit's layout; a fused-attention
graph has no position_ids), the attention sizes, the EOS ids, the context length and greedy search defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import KitSetup, KitSource, Replayed, copy_files, trim_at_end
from .hf_files import model_config, write_tokenizer

CONFIG = "genai_config.json"
# exported architectures whose graph onnxruntime-genai drives as a plain decoder (its model.type),
# each checked in tests/export/mobile; sliding-window (gemma2/3) and bitnet graphs are not claimed
MODEL_TYPES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "phi3": "phi3", "gemma": "gemma"}
INPUTS = {"input_ids": "input_ids", "attention_mask": "attention_mask", "position_ids": "position_ids",
          "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"}
OUTPUTS = {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"}


def _fused(source: KitSource) -> bool:
    return getattr(source.ref.manifest, "attention", "traced") == "fused"


def _inputs(source: KitSource) -> dict[str, str]:
    """The graph's inputs: a fused-attention bundle (GroupQueryAttention) has no position_ids."""
    return {k: v for k, v in INPUTS.items() if not (_fused(source) and k == "position_ids")}


def genai_config(source: KitSource, context_length: int) -> dict[str, Any]:
    cfg = model_config(source)
    heads = int(cfg["num_attention_heads"])
    eog = list(source.eog_token_ids)
    decoder = {"filename": "model.onnx", "head_size": int(cfg.get("head_dim") or cfg["hidden_size"] // heads),
               "hidden_size": int(cfg["hidden_size"]), "num_attention_heads": heads,
               "num_hidden_layers": int(cfg["num_hidden_layers"]),
               "num_key_value_heads": int(cfg.get("num_key_value_heads") or heads),
               "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
               "inputs": _inputs(source), "outputs": OUTPUTS}
    model = {"type": MODEL_TYPES[source.architecture], "context_length": context_length,
             "vocab_size": source.n_vocab, "eos_token_id": eog[0] if len(eog) == 1 else eog,
             "pad_token_id": int(cfg.get("pad_token_id") or eog[0]), "decoder": decoder}
    if cfg.get("bos_token_id") is not None:
        model["bos_token_id"] = int(cfg["bos_token_id"])
    search = {"do_sample": False, "max_length": context_length, "min_length": 0, "num_beams": 1,
              "num_return_sequences": 1,
              # GroupQueryAttention writes new K/V in place into one max-length buffer (traced graphs concat)
              "past_present_share_buffer": _fused(source), "repetition_penalty": 1.0,
              "temperature": 1.0, "top_k": 1, "top_p": 1.0, "early_stopping": True, "length_penalty": 1.0,
              "no_repeat_ngram_size": 0, "diversity_penalty": 0.0}
    return {"model": model, "search": search}


class OrtGenAI:
    name, formats, runtime = "ort-genai", ("onnx",), "onnxruntime-genai"

    def refusal(self, source: KitSource) -> str | None:
        if source.encoder_decoder:
            return (f"onnxruntime-genai loads decoder-only models and {source.architecture} is an "
                    "encoder-decoder; use the transformers-js or llama-cpp target, or a decoder-only model")
        if source.architecture not in MODEL_TYPES:
            return (f"architecture {source.architecture} is not one this kit writer maps to an "
                    f"onnxruntime-genai model type ({', '.join(MODEL_TYPES)})")
        return None

    def write(self, source: KitSource, kit: Path, setup: KitSetup) -> dict[str, Any]:
        import json

        copy_files(source, [n for n in source.files if n.startswith("model.onnx")], kit)
        write_tokenizer(source, kit)
        (kit / CONFIG).write_text(json.dumps(genai_config(source, setup.context_length), indent=2) + "\n")
        return {"config": CONFIG, "model_type": MODEL_TYPES[source.architecture]}

    def replay(self, kit: Path, manifest: Any, golden: dict) -> list[Replayed] | str:
        try:
            import onnxruntime_genai as og
        except ImportError:
            return "onnxruntime-genai is not installed (pip install 'edgesplit[onnx]')"
        model = og.Model(str(kit))
        tokenizer = og.Tokenizer(model)
        eog = manifest.special_tokens["eog_token_ids"]
        out = []
        for case in golden["cases"]:
            ids = case["prompt_ids"]
            params = og.GeneratorParams(model)
            params.set_search_options(max_length=len(ids) + case["max_tokens"], do_sample=False)
            generator = og.Generator(model, params)
            generator.append_tokens(ids)
            new: list[int] = []
            while not generator.is_done() and len(new) < case["max_tokens"]:
                generator.generate_next_token()
                new.append(int(generator.get_next_tokens()[0]))
            new = trim_at_end(new, eog)
            encoded = [int(i) for i in tokenizer.encode(case["text"])]
            out.append(Replayed(encoded, new, tokenizer.decode(new) if new else ""))
        return out


TARGET = OrtGenAI()
