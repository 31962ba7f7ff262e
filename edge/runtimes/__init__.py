"""The native runtimes behind the backends, each behind one module that owns its facts.

`llamacpp`: opening a GGUF, KV-cache types, the quantization registry, the quantizer, vocabulary
access and llama.cpp's log. `onnxrt`: ONNX Runtime session creation. Importing this package
imports neither native library; they load on first use.
"""
