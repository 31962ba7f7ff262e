"""edgesplit runtime: one Engine over llama.cpp and ONNX Runtime.

Importing `edge` never imports torch, llama_cpp or onnxruntime; backends load on first use.
"""

from .engine import Chunk, Engine, GenerationResult, Timings, TokenLogprob
from .errors import EdgeError
from .options import RuntimeOptions
from .sampling import SamplingParams

__version__ = "0.1.0"

__all__ = ["Chunk", "EdgeError", "Engine", "GenerationResult", "RuntimeOptions", "SamplingParams",
           "Timings", "TokenLogprob", "__version__"]
