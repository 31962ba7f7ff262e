"""Validate a GGUF file and read the metadata the runtime needs, without llama.cpp.

llama.cpp aborts the process on some malformed files; checking the structure here first turns
those into a ModelFormatError that says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import BackendUnavailableError, ModelFormatError

ENCODER_DECODER_ARCHS = {"t5"}


@dataclass(frozen=True)
class GGUFMeta:
    architecture: str
    n_ctx_train: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    add_bos: bool
    file_type: int | None
    n_tensors: int
    encoder_decoder: bool
    name: str | None = None


def _reader(path: Path):
    try:
        from gguf import GGUFReader
    except ImportError:
        raise BackendUnavailableError("reading GGUF files needs the `gguf` package: pip install 'edgesplit[gguf]'") from None
    size = path.stat().st_size
    if size < 32:
        raise ModelFormatError(f"{path} is truncated ({size} bytes): re-download or re-export it")
    try:
        reader = GGUFReader(path, "r")
    except Exception as exc:  # GGUFReader raises ValueError/IndexError/struct errors on bad files
        raise ModelFormatError(f"{path} is not a valid GGUF file ({type(exc).__name__}: {exc}); "
                               "it may be truncated or corrupt: re-download or re-export it") from None
    end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    if end > size or not reader.tensors:
        raise ModelFormatError(f"{path} is truncated: tensor data needs {end} bytes, file has {size}; "
                               "re-download or re-export it")
    return reader


def _value(reader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


def _token(reader, key: str) -> str:
    idx = _value(reader, key)
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if idx is None or tokens is None or idx >= len(tokens.data):
        return ""
    return bytes(tokens.parts[tokens.data[idx]]).decode("utf-8", "replace")


def read_gguf_meta(path: Path) -> GGUFMeta:
    """Validate `path` structurally and return its metadata; ModelFormatError if malformed."""
    path = Path(path)
    reader = _reader(path)
    arch = _value(reader, "general.architecture")
    if not isinstance(arch, str):
        raise ModelFormatError(f"{path} has no general.architecture key; it is not a model GGUF")
    try:
        return GGUFMeta(
            architecture=arch,
            n_ctx_train=int(_value(reader, f"{arch}.context_length", 0) or 0),
            chat_template=_value(reader, "tokenizer.chat_template"),
            bos_token=_token(reader, "tokenizer.ggml.bos_token_id"),
            eos_token=_token(reader, "tokenizer.ggml.eos_token_id"),
            add_bos=bool(_value(reader, "tokenizer.ggml.add_bos_token", False)),
            file_type=_value(reader, "general.file_type"),
            n_tensors=len(reader.tensors),
            encoder_decoder=arch in ENCODER_DECODER_ARCHS,
            name=_value(reader, "general.name"),
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise ModelFormatError(f"{path} has malformed metadata ({exc}); re-export it") from None
