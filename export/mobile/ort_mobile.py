"""`ort-mobile/`: ORT-format graphs and required_operators.config for a reduced-operator mobile build.

Android/iOS apps that build onnxruntime with only the operators they use (build.py
--include_ops_by_config) load model.ort with the tokenizer beside it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edge.errors import ExportError

from .base import KitSetup, KitSource, Replayed, copy_files, trim_at_end
from .hf_files import write_tokenizer

OPS = "required_operators.config"


class OrtMobile:
    name, formats, runtime = "ort-mobile", ("onnx",), "onnxruntime (ORT format)"

    def refusal(self, source: KitSource) -> str | None:
        if source.encoder_decoder:
            return f"this kit writer replays decoder-only ORT graphs; {source.architecture} is an encoder-decoder"
        return None

    def write(self, source: KitSource, kit: Path, setup: KitSetup) -> dict[str, Any]:
        from export.onnx.export import MOBILE_DIR, write_ort_mobile

        work = kit / ".ort-work"
        copy_files(source, [n for n in source.files if n.startswith("model.onnx")], work)
        write_ort_mobile(work)
        for f in (work / MOBILE_DIR).iterdir():
            if f.name.endswith(".ort") or f.name == OPS:
                shutil.move(f, kit / f.name)
        shutil.rmtree(work)
        if not (kit / "model.ort").is_file():
            raise ExportError("ORT-format conversion wrote no model.ort")
        write_tokenizer(source, kit)
        copy_files(source, ["config.json"], kit)
        return {"model_file": "model.ort", "operators": OPS}

    def replay(self, kit: Path, manifest: Any, golden: dict) -> list[Replayed] | str:
        try:
            from tokenizers import Tokenizer

            from edge.backends.onnxruntime import CausalLM
            from edge.options import RuntimeOptions
        except ImportError:
            return "onnxruntime and tokenizers are not installed (pip install 'edgesplit[onnx]')"

        # the .ort graph instead of model.onnx, through the same KV-cache loop
        lm, tok = CausalLM(kit, RuntimeOptions(), "model.ort"), Tokenizer.from_file(str(kit / "tokenizer.json"))
        eog, out = manifest.special_tokens["eog_token_ids"], []
        for case in golden["cases"]:
            logits, new = lm.start(case["prompt_ids"]), []
            while len(new) < case["max_tokens"]:
                new.append(int(logits.argmax()))
                if new[-1] in eog:
                    break
                logits = lm.step(new[-1])
            out.append(Replayed(_encode(tok, case["text"], manifest.special_tokens), trim_at_end(new, eog)))
        return out


def _encode(tok: Any, text: str, special: dict[str, Any]) -> list[int]:
    """The prompt's ids as an app builds them: the tokenizer, plus the BOS unless the template wrote it."""
    ids = tok.encode(text, add_special_tokens=False).ids
    bos = special["bos_token"]
    if special["add_bos"] and bos and not text.startswith(bos) and tok.token_to_id(bos) is not None:
        ids = [tok.token_to_id(bos), *ids]
    return ids


TARGET = OrtMobile()
