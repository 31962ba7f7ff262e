"""Hugging Face checkpoint (or GGUF) -> verified ONNX bundle.

`export_onnx(src, out, quant=...)` is the library entry point; `cli.py` wraps it and
`verify.py` re-checks a bundle. torch/transformers/optimum are imported only here, never by `edge`.
"""

from .archs import Arch, get_arch, registered_archs

__all__ = ["Arch", "get_arch", "registered_archs"]
