"""Weight quantizers shared by the GGUF and ONNX exporters (pure numpy)."""

from export.quant.ternary import (
    METHODS,
    TernaryWeight,
    dequantize_ternary,
    is_ternary,
    ternarize,
    ternarize_or_keep,
    ternary_scale,
)

__all__ = [
    "METHODS",
    "TernaryWeight",
    "dequantize_ternary",
    "is_ternary",
    "ternarize",
    "ternarize_or_keep",
    "ternary_scale",
]
