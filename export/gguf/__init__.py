"""HF checkpoint → GGUF: the project's own converter on the PyPI `gguf` package.

`convert.export_gguf` (library), `cli.gguf` (`edgesplit export gguf`), `verify.verify_bundle`
(`edgesplit verify`), the architecture registry in `registry` + `archs/`.
"""
