"""Run the `edgesplit` CLI with torch and the export stack made unimportable (a runtime-only install).

    python tests/edge/server/no_export_stack.py serve --port 0
"""

from __future__ import annotations

import importlib.abc
import sys

BLOCKED = {"torch", "transformers", "optimum", "onnxscript", "accelerate", "safetensors"}


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (runtime-only install)", name=name)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _Absent())
    from edge.cli import main

    main(sys.argv[1:])
