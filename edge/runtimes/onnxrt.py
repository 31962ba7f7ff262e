"""ONNX Runtime session creation in one place: threads, spinning, graph optimization, providers.

    sess = make_session(path, threads=4, providers=[("CPUExecutionProvider", {})])

Importing this module does not import onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError, ModelFormatError

OPTIMIZATION = {"none": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
                "all": "ORT_ENABLE_ALL"}  # -> ort.GraphOptimizationLevel


def session_options(*, threads: int, spinning: bool = False, optimization: str = "all") -> Any:
    """`ort.SessionOptions` as edgesplit runs every session: `threads` intra-op, one inter-op.

    Spinning worker threads halve decode speed when the cores are shared (measured 2x on a busy
    2-core box); on a device the app and the OS always share them, so they are off by default.
    """
    import onnxruntime as ort

    if optimization not in OPTIMIZATION:
        raise InvalidRequestError(f"optimization must be one of {', '.join(OPTIMIZATION)}, got {optimization!r}")
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION[optimization])
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return so


def make_session(path: Path | str, *, threads: int, spinning: bool = False,
                 providers: list[tuple[str, dict]] | None = None, optimization: str = "all") -> Any:
    """An `ort.InferenceSession` on `providers` ((name, options) pairs; default CPU); a file
    onnxruntime refuses raises ModelFormatError."""
    import onnxruntime as ort

    providers = providers or [("CPUExecutionProvider", {})]
    so = session_options(threads=threads, spinning=spinning, optimization=optimization)
    try:
        return ort.InferenceSession(str(path), so, providers=[p for p, _ in providers],
                                    provider_options=[o for _, o in providers])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/NoSuchFile types
        raise ModelFormatError(f"onnxruntime could not load {Path(path).name}: {exc}; re-export the bundle") from None
