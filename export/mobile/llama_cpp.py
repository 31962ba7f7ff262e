"""`llama-cpp/`: the GGUF and llama-settings.json for llama.cpp's Android and Swift bindings and llama.rn.

The settings file holds what those bindings ask for at load (context, batch, threads, KV type,
flash attention, mmap) and at generation (sampling defaults, end-of-generation ids, chat template).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from edge.runtimes.llamacpp import kv_ggml_type
from edge.sampling import SamplingParams

from .base import KitSetup, KitSource, Replayed, trim_at_end

SETTINGS = "llama-settings.json"


def settings(source: KitSource, setup: KitSetup, model_file: str) -> dict[str, Any]:
    r, defaults = setup.profile.runtime, SamplingParams()
    return {
        "model": model_file,
        "load": {"n_ctx": setup.context_length, "n_batch": min(r.n_batch, setup.context_length),
                 "n_threads": setup.profile.threads_for(setup.profile.device.cores if setup.profile.device else None),
                 "flash_attn": r.flash_attn, "use_mmap": r.use_mmap, "use_mlock": r.use_mlock,
                 "type_k": r.kv_type, "type_v": r.kv_type},
        "sampling": {"temperature": defaults.temperature, "top_p": defaults.top_p, "top_k": defaults.top_k,
                     "min_p": 0.0, "repeat_penalty": 1.0},
        "golden_sampling": {"temperature": 0.0, "top_k": 1},
        "add_bos": source.add_bos, "eog_token_ids": list(source.eog_token_ids),
        "chat_template": source.chat_template,
    }


class LlamaCpp:
    name, formats, runtime = "llama-cpp", ("gguf",), "llama.cpp"

    def refusal(self, source: KitSource) -> str | None:
        if source.encoder_decoder:
            return (f"llama.cpp's mobile bindings and llama.rn run decoder-only models; {source.architecture} is "
                    "an encoder-decoder (it needs llama_encode, which they never call)")
        return None

    def write(self, source: KitSource, kit: Path, setup: KitSetup) -> dict[str, Any]:
        name = source.ref.weights_file.name
        shutil.copyfile(source.ref.weights_file, kit / name)
        (kit / SETTINGS).write_text(json.dumps(settings(source, setup, name), indent=2) + "\n")
        return {"settings": SETTINGS, "model_file": name}

    def replay(self, kit: Path, manifest: Any, golden: dict) -> list[Replayed] | str:
        try:
            import llama_cpp
        except ImportError:
            return "llama-cpp-python is not installed (pip install 'edgesplit[gguf]')"
        conf = json.loads((kit / SETTINGS).read_text())
        load = conf["load"]
        llm = llama_cpp.Llama(model_path=str(kit / conf["model"]), n_ctx=load["n_ctx"], n_batch=load["n_batch"],
                              flash_attn=load["flash_attn"], use_mmap=load["use_mmap"],
                              type_k=kv_ggml_type(load["type_k"]), type_v=kv_ggml_type(load["type_v"]),
                              verbose=False)
        try:
            return [self._case(llm, conf, case) for case in golden["cases"]]
        finally:
            llm.close()

    @staticmethod
    def _case(llm: Any, conf: dict[str, Any], case: dict[str, Any]) -> Replayed:
        text, bos = case["text"], llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
        add_bos = conf["add_bos"] and not (bos and text.startswith(bos))  # a template that writes its own BOS
        ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        new: list[int] = []
        for tok in llm.generate(case["prompt_ids"], top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            new.append(int(tok))
            if tok in conf["eog_token_ids"] or len(new) >= case["max_tokens"]:
                break
        new = trim_at_end(new, conf["eog_token_ids"])
        return Replayed(ids, new, llm.detokenize(new, special=False).decode("utf-8", "replace"))


TARGET = LlamaCpp()
