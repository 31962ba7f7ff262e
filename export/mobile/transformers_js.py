"""`transformers-js/`: the folder transformers.js loads (React Native and web apps).

config.json, generation_config.json, tokenizer.json, tokenizer_config.json (with the chat
template) and onnx/model{suffix}.onnx, the suffix naming the dtype transformers.js asks for.
Replay runs Node with `@huggingface/transformers` from the git-ignored `.node/` the set-up fills.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from edge.errors import ExportError

from .base import KitSetup, KitSource, Replayed, copy_files
from .hf_files import write_generation_config, write_tokenizer

# edgesplit quantization -> (transformers.js dtype, file suffix it loads)
DTYPES = {"fp32": ("fp32", ""), "fp16": ("fp16", "_fp16"), "int8": ("q8", "_quantized"), "int4": ("q4", "_q4")}
SCRIPT = Path(__file__).with_name("replay_tjs.mjs")
REPO_NODE = Path(__file__).resolve().parents[2] / ".node" / "node_modules"
PACKAGE = "@huggingface/transformers"


def node_modules() -> Path:
    """Where `@huggingface/transformers` is installed: $EDGESPLIT_NODE_MODULES or the repo's .node/."""
    return Path(os.environ.get("EDGESPLIT_NODE_MODULES") or REPO_NODE)


def unavailable() -> str | None:
    """Why the Node replay cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (Node 18+ runs transformers.js)"
    if not (node_modules() / PACKAGE / "package.json").is_file():
        return f"{PACKAGE} is not installed in {node_modules()} (scripts/setup.sh installs it)"
    return None


class TransformersJs:
    name, formats, runtime = "transformers-js", ("onnx",), "transformers.js"

    def refusal(self, source: KitSource) -> str | None:
        if source.encoder_decoder:
            return f"this kit writer makes decoder-only transformers.js kits; {source.architecture} is an encoder-decoder"
        if source.quantization not in DTYPES:
            return (f"transformers.js has no dtype for {source.quantization} weights "
                    f"(it loads {', '.join(DTYPES)}); re-export the bundle at one of those")
        if any(n != "model.onnx" and n.startswith("model.onnx") for n in source.files):
            return "the graph keeps its weights in external data, which this kit writer does not rename"
        return None

    def write(self, source: KitSource, kit: Path, setup: KitSetup) -> dict[str, Any]:
        dtype, suffix = DTYPES[source.quantization]
        copy_files(source, ["model.onnx"], kit, {"model.onnx": f"onnx/model{suffix}.onnx"})
        copy_files(source, ["config.json"], kit)
        write_tokenizer(source, kit)
        write_generation_config(source, kit, setup.context_length)
        return {"dtype": dtype, "model_file": f"onnx/model{suffix}.onnx", "package": f"{PACKAGE}@4.3.1"}

    def replay(self, kit: Path, manifest: Any, golden: dict) -> list[Replayed] | str:
        if (why := unavailable()) is not None:
            return why
        try:
            run = subprocess.run(["node", str(SCRIPT), str(node_modules()), str(Path(kit).resolve()),
                                  manifest.settings["dtype"], json.dumps(manifest.special_tokens["eog_token_ids"])],
                                 input=json.dumps(golden), capture_output=True,
                                 text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise ExportError(f"transformers.js replay of {kit} ran past 10 minutes") from None
        if run.returncode != 0:
            raise ExportError(f"transformers.js could not run kit {kit}: {run.stderr.strip()[-600:]}")
        return [Replayed(r["prompt_ids"], r["output_ids"], r["output_text"], r["rendered"])
                for r in json.loads(run.stdout)]


TARGET = TransformersJs()
