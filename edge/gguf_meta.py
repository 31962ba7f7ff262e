"""Validate a GGUF file and read the metadata the runtime needs, without llama.cpp.

llama.cpp aborts the process on some malformed files; checking the structure here first turns
those into a ModelFormatError that says what is wrong. The parser reads the header, metadata
and tensor table directly (gguf-py's reader decodes every vocabulary string in Python, which
made a model load take seconds) and results are cached per file version.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .chat import check_template
from .errors import ModelFormatError
from .gguf_hparams import HParamError, check_hparams

ENCODER_DECODER_ARCHS = {"t5"}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_UINT32 = 4
MAX_KEPT_ARRAY = 4096  # numeric arrays up to this length are kept (per-layer head counts...)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_NAME = 63  # GGML_MAX_NAME - 1: llama.cpp refuses longer tensor names
TENSOR_ALIGNMENT = 32  # ggml's; tensor data must start on such a boundary
TOKEN_TYPES = "tokenizer.ggml.token_type"
BYTE_TOKEN = 6  # LLAMA_TOKEN_TYPE_BYTE
# tokenizer models whose llama.cpp vocabulary can decode <0xXX> byte tokens; others abort on one
BYTE_TOKENIZERS = {"llama", "gpt2", "hybriddna", "whitespace", "t5", "gemma4"}
NON_WEIGHT_TYPES = {24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64"}  # ggml cannot matmul these: SIGSEGV


@dataclass(frozen=True)
class TensorInfo:
    name: str
    n_elements: int
    n_bytes: int


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
    kv: dict = field(default_factory=dict, repr=False, compare=False)  # scalar metadata, arrays left out
    tensors: tuple[TensorInfo, ...] = field(default=(), repr=False, compare=False)

    @property
    def tensor_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)


class _Cursor:
    def __init__(self, buf) -> None:
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str):
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        if self.pos + n > len(self.buf):
            raise struct.error("string past end of file")
        s = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return s

    def value(self, vtype: int, keep_array: bool = False):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype != _ARRAY:
            raise ValueError(f"unknown metadata value type {vtype}")
        etype, count = self.unpack("<I"), self.unpack("<Q")
        if etype == _STRING:  # only offsets: the vocabulary is 49k strings we rarely need
            starts = []
            for _ in range(count):
                starts.append(self.pos)
                self.pos += 8 + struct.unpack_from("<Q", self.buf, self.pos)[0]
            if self.pos > len(self.buf):
                raise struct.error("array past end of file")
            return _StringArray(self.buf, starts)
        if etype not in _SCALARS:
            raise ValueError(f"unsupported array element type {etype}")
        size = struct.calcsize(_SCALARS[etype])
        if self.pos + size * count > len(self.buf):
            raise struct.error("array past end of file")
        start, self.pos = self.pos, self.pos + size * count
        if count > MAX_KEPT_ARRAY and not keep_array:  # e.g. a vocabulary's scores: not needed here
            return None
        return struct.unpack_from(f"<{count}{_SCALARS[etype][1]}", self.buf, start)  # per-layer hparams


class _StringArray:
    def __init__(self, buf, starts: list[int]) -> None:
        self.buf, self.starts = buf, starts

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> str:
        c = _Cursor(self.buf)
        c.pos = self.starts[i]
        return c.string()


def _parse(path: Path) -> GGUFMeta:
    size = path.stat().st_size
    if size < 32:
        raise ModelFormatError(f"{path} is truncated ({size} bytes): re-download or re-export it")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            return _read(path, buf, size)
        except HParamError as exc:
            raise ModelFormatError(f"{path} has an invalid hyper-parameter: {exc}; llama.cpp would abort on it: "
                                   "re-export the model") from None
        except (struct.error, ValueError, IndexError, KeyError, OverflowError, ZeroDivisionError,
                MemoryError) as exc:
            raise ModelFormatError(f"{path} is not a valid GGUF file ({exc}); it may be truncated or "
                                   "corrupt: re-download or re-export it") from None


def _read(path: Path, buf, size: int) -> GGUFMeta:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    c = _Cursor(buf)
    if bytes(buf[:4]) != b"GGUF":
        raise ModelFormatError(f"{path} is not a GGUF file (bad magic)")
    c.pos = 4
    version, n_tensors, n_kv = c.unpack("<I"), c.unpack("<Q"), c.unpack("<Q")
    if version not in (2, 3):
        raise ModelFormatError(f"{path}: GGUF version {version} is not supported (2 or 3; big-endian files are not)")
    kv, types = {}, {}
    for _ in range(n_kv):
        key, vtype = c.string(), c.unpack("<I")
        kv[key], types[key] = c.value(vtype, keep_array=key == TOKEN_TYPES), vtype
    align = _alignment(kv, types)
    end = 0
    infos = []
    for _ in range(n_tensors):
        name, n_dims = c.string(), c.unpack("<I")
        if n_dims > MAX_DIMS or len(name.encode()) > MAX_NAME:
            raise ValueError(f"tensor {name[:40]!r} has {n_dims} dimensions or a name over {MAX_NAME} bytes")
        dims = [c.unpack("<Q") for _ in range(n_dims)]
        ttype, offset = c.unpack("<I"), c.unpack("<Q")
        if ttype in NON_WEIGHT_TYPES:
            raise ValueError(f"tensor {name!r} has type {NON_WEIGHT_TYPES[ttype]}, which llama.cpp cannot compute with")
        block, tsize = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
        n = 1
        for d in dims:
            n *= d
        if dims and dims[0] % block:
            raise ValueError(f"tensor {name!r}: row of {dims[0]} is not a multiple of its block size {block}")
        if offset % align:
            raise ValueError(f"tensor {name!r}: offset {offset} is not a multiple of the alignment {align}")
        infos.append(TensorInfo(name, n, n // block * tsize))
        end = max(end, offset + n // block * tsize)
    data_start = (c.pos + align - 1) // align * align
    if not infos or data_start + end > size:
        raise ModelFormatError(f"{path} is truncated: tensor data needs {data_start + end} bytes, file has "
                               f"{size}; re-download or re-export it")
    return _meta(path, kv, tuple(infos))


def _alignment(kv: dict, types: dict) -> int:
    """general.alignment as llama.cpp reads it: a uint32 power of two (32 when absent).

    Below ggml's TENSOR_ALIGNMENT (32) the mmapped tensors are misaligned and llama.cpp asserts.
    """
    if "general.alignment" not in kv:
        return TENSOR_ALIGNMENT
    align = kv["general.alignment"]
    if types["general.alignment"] != _UINT32 or align < TENSOR_ALIGNMENT or align & (align - 1):
        raise ValueError(f"general.alignment {align!r:.40} is not a uint32 power of two >= {TENSOR_ALIGNMENT}")
    return align


def _check_tokens(tokens: object) -> None:
    """llama.cpp asserts that every token string is distinct (empty ones become `[EMPTY_i]`)."""
    if not isinstance(tokens, _StringArray):
        return  # absent or of the wrong type: llama.cpp refuses that with an exception
    seen: set[bytes] = set()
    buf = tokens.buf
    for i, start in enumerate(tokens.starts):
        n = struct.unpack_from("<Q", buf, start)[0]
        word = buf[start + 8 : start + 8 + n] or f"[EMPTY_{i}]".encode()
        if word in seen:
            raise ValueError(f"tokenizer.ggml.tokens repeats the token {bytes(word)[:40]!r} (at index {i})")
        seen.add(word)


def _check_byte_tokens(model: object, types: object) -> None:
    if isinstance(types, tuple) and model not in BYTE_TOKENIZERS and BYTE_TOKEN in types:
        raise ValueError(f"tokenizer {model!r:.40} has byte tokens (token_type 6), which llama.cpp aborts on; "
                         f"byte tokens need one of {', '.join(sorted(BYTE_TOKENIZERS))}")


def _meta(path: Path, kv: dict, tensors: tuple[TensorInfo, ...]) -> GGUFMeta:
    arch = kv.get("general.architecture")
    if not isinstance(arch, str):
        raise ModelFormatError(f"{path} has no general.architecture key; it is not a model GGUF")
    check_hparams(arch, kv)
    _check_tokens(kv.get("tokenizer.ggml.tokens"))
    _check_byte_tokens(kv.get("tokenizer.ggml.model"), kv.get(TOKEN_TYPES))
    template = kv.get("tokenizer.chat_template")
    if template is not None:
        if not isinstance(template, str):
            raise ValueError("tokenizer.chat_template is not a string")
        check_template(template)  # llama-cpp-python compiles it at load, raising a bare Jinja error
    tokens = kv.get("tokenizer.ggml.tokens")

    def token(key: str) -> str:
        idx = kv.get(key)
        return tokens[idx] if isinstance(tokens, _StringArray) and isinstance(idx, int) and idx < len(tokens) else ""

    return GGUFMeta(
        architecture=arch,
        n_ctx_train=int(kv.get(f"{arch}.context_length", 0) or 0),
        chat_template=kv.get("tokenizer.chat_template"),
        bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"),
        add_bos=bool(kv.get("tokenizer.ggml.add_bos_token", False)),
        file_type=kv.get("general.file_type"),
        n_tensors=len(tensors),
        encoder_decoder=arch in ENCODER_DECODER_ARCHS,
        name=kv.get("general.name"),
        kv={k: v for k, v in kv.items() if v is not None and not isinstance(v, _StringArray) and k != TOKEN_TYPES},
        tensors=tensors,
    )


@lru_cache(maxsize=32)
def _cached(path: str, size: int, mtime_ns: int) -> GGUFMeta:
    return _parse(Path(path))


def read_gguf_meta(path: Path) -> GGUFMeta:
    """Validate `path` structurally and return its metadata; ModelFormatError if malformed."""
    path = Path(path)
    st = path.stat()
    return _cached(str(path.resolve()), st.st_size, st.st_mtime_ns)
