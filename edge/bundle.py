"""Bundle manifests: the contract between `export` (which writes them) and the runtime.

A bundle is a directory with `manifest.json` listing every file with its sha256. Loading
re-hashes the files and refuses a bundle whose files or manifest were changed. Each format has
its own typed manifest (`GgufManifest`, `OnnxManifest`, chosen by `format`); schema 1 manifests
(facts in a free-form `extra`) are migrated when read (`edge.bundle_v1`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import BundleIntegrityError, ModelFormatError
from .validation import join, problems

SCHEMA_VERSION = 2  # 1: runtime/quantization/parity facts in a free-form `extra` dict
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20  # a manifest lists files and a few numbers: kilobytes
MAX_DEPTH = 64  # of nested JSON in a manifest; json and pydantic recurse per level
MAX_FILES = 4096  # a bundle holds a few model files; more is not one edgesplit wrote
MAX_NAME_BYTES, MAX_PATH_BYTES = 255, 1024  # per path component (NAME_MAX), per entry
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STRICT = ConfigDict(extra="forbid")


class Parity(BaseModel):
    """Teacher-forced logit parity against the source (`export.parity_result.LogitParity`)."""

    model_config = _STRICT
    reference: str
    max_abs_logit_diff: float
    top1_agreement: float
    n_tokens: int
    tolerance: float | None = None
    min_top1: float | None = None


class TokenizerParityFacts(BaseModel):
    """The bundle's tokenizer against the source's on the probe texts (`export.tokparity`)."""

    model_config = _STRICT
    reference: str  # "transformers:<dir>" | "llama.cpp:<file>"
    candidate: str  # what the bundle's runtime tokenizes with
    n_texts: int = Field(ge=0)
    mismatches: int = Field(ge=0)

    @property
    def passed(self) -> bool:
        return self.mismatches == 0


class DecodeParityFacts(BaseModel):
    """Greedy decode through the bundle's KV cache along the reference's paths (`export.decode`)."""

    model_config = _STRICT
    reference: str
    agreement: float
    max_abs_logit_diff: float
    n_prompts: int = Field(ge=0)
    n_tokens: int = Field(ge=0)
    min_agreement: float | None = None
    tolerance: float | None = None
    margin: float
    first_miss: tuple[int, int] | None = None  # (prompt, step)

    @property
    def passed(self) -> bool:
        return (self.min_agreement is None or self.agreement >= self.min_agreement) and (
            self.tolerance is None or self.max_abs_logit_diff <= self.tolerance)

    def __str__(self) -> str:
        miss = f", first miss at prompt {self.first_miss[0]} step {self.first_miss[1]}" if self.first_miss else ""
        return (f"greedy decode agreement {self.agreement:.3f} over {self.n_prompts}x{self.n_tokens} cached steps, "
                f"max |Δlogit| {self.max_abs_logit_diff:.3g}{miss}")


class GgufRuntimeFacts(BaseModel):
    """The llama.cpp build the export measured parity with (None: not recorded)."""

    model_config = _STRICT
    llama_cpp_python: str | None = None
    exact_gelu: bool | None = None  # False: the stock fp16 GELU table (parity ~1e-4, not ~1e-6)
    kv_type_for_parity: Literal["f32", "f16", "q8_0", "q4_0"] | None = None


class GgufQuantFacts(BaseModel):
    model_config = _STRICT
    ternarize: Literal["absmean", "absmedian"] | None = None  # method, when linear weights were ternarized
    ternary_tensors: int = Field(0, ge=0)
    keep_embeddings: Literal["f16", "q8_0"] | None = None
    fallbacks: list[str] = []  # tensors that could not take the type, with the one they got


class OnnxRuntimeFacts(BaseModel):
    """What the ONNX runtime needs without transformers: special tokens, end-of-generation ids, sizes."""

    model_config = _STRICT
    bos_token: str = ""
    eos_token: str = ""
    add_bos: bool = False
    eog_token_ids: list[int]
    decoder_start_token_id: int | None = None
    n_ctx_train: int = Field(ge=0)  # 0: unbounded (encoder-decoder)
    n_vocab: int = Field(ge=1)
    n_params: int | None = Field(None, ge=0)


class OnnxQuantFacts(BaseModel):
    """MatMulNBits settings (`export.quant.nbits.NBitsPlan`); bits None for float and ternary types."""

    model_config = _STRICT
    bits: Literal[4, 8] | None = None
    block_size: int | None = Field(None, ge=1)
    accuracy_level: int | None = None
    symmetric: bool | None = None
    keep_8bit: list[str] = []
    # block scales: onnxruntime's quantizer, a least-squares search, or Q4_1-style float block offsets
    scheme: Literal["absmax", "search", "offset"] = "absmax"


class _ManifestBase(BaseModel):
    model_config = _STRICT
    schema_version: Literal[2] = SCHEMA_VERSION
    format: Literal["onnx", "gguf"]
    architecture: str
    encoder_decoder: bool = False
    quantization: str
    files: dict[str, str]  # relative path -> sha256 hex
    tokenizer: str | None = None  # relative path of tokenizer file/dir, if separate
    chat_template: str | None = None
    source: dict[str, str] = {}
    parity: Parity | None = None
    tokenizer_parity: TokenizerParityFacts | None = None
    decode_parity: DecodeParityFacts | None = None
    created_with: str


class GgufManifest(_ManifestBase):
    format: Literal["gguf"] = "gguf"
    runtime: GgufRuntimeFacts = GgufRuntimeFacts()
    quant: GgufQuantFacts = GgufQuantFacts()


class OnnxManifest(_ManifestBase):
    format: Literal["onnx"] = "onnx"
    runtime: OnnxRuntimeFacts
    quant: OnnxQuantFacts = OnnxQuantFacts()
    ort_mobile: bool = False  # ORT-format copies of the graphs in mobile/
    # how model.onnx attends: optimum's traced graph, or one GroupQueryAttention per layer
    # (export/onnx/fused_llama.py: no position_ids input); bundles from before the field are traced
    attention: Literal["traced", "fused"] = "traced"


Manifest = GgufManifest | OnnxManifest
MANIFESTS: dict[str, type[GgufManifest] | type[OnnxManifest]] = {"gguf": GgufManifest, "onnx": OnnxManifest}
_ADAPTER: TypeAdapter[Manifest] = TypeAdapter(Annotated[Manifest, Field(discriminator="format")])
_FORMAT_KEYS = {k for cls in MANIFESTS.values() for k in cls.model_fields} - set(_ManifestBase.model_fields)
UNKNOWN_HINT = "remove it (a manifest holds only what `edgesplit export` writes)"


def reexport_advice(fmt: str | None) -> str:
    command = f"edgesplit export {fmt or 'gguf|onnx'}"
    return f"re-export the bundle with `{command} SRC OUT`"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _depth(obj: object) -> int:
    """Nesting depth of decoded JSON, without recursion."""
    deepest, stack = 0, [(obj, 1)] if isinstance(obj, dict | list) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((v, depth + 1) for v in children if isinstance(v, dict | list))
    return deepest


def _load_json(path: Path) -> object:
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleIntegrityError(f"{path} is over {MAX_MANIFEST_BYTES >> 20} MiB; it is not a manifest "
                                       "edgesplit wrote: re-export the bundle")
        data = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting past the C stack
        raise BundleIntegrityError(f"{path} is not valid JSON ({str(exc)[:200]}); re-export the bundle") from None
    except OSError as exc:
        raise BundleIntegrityError(f"{path} cannot be read ({exc.strerror}); re-export the bundle") from None
    if _depth(data) > MAX_DEPTH:
        raise BundleIntegrityError(f"{path} nests JSON deeper than {MAX_DEPTH} levels; re-export the bundle")
    return data


def _check_entry(path: Path, name: str, digest: str) -> None:
    parts = Path(name).parts
    if (not name or "\0" in name or Path(name).is_absolute() or ".." in parts
            or len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES
            or any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts)):
        raise BundleIntegrityError(f"{path}: file entry {name[:80]!r} is not a short relative path inside the "
                                   "bundle; re-export the bundle")
    if not _SHA256.fullmatch(digest):
        raise BundleIntegrityError(f"{path}: file entry {name[:80]!r} has no sha256 hex digest; re-export the bundle")


def _format_of(data: object) -> str | None:
    fmt = data.get("format") if isinstance(data, dict) else None
    return fmt if isinstance(fmt, str) and fmt in MANIFESTS else None


def _schema_version(data: object, where: str) -> object:
    """The manifest's schema version (absent: 1, which defaulted it); newer than ours: upgrade edgesplit."""
    version = data.get("schema_version", 1) if isinstance(data, dict) else SCHEMA_VERSION
    if type(version) is int and version > SCHEMA_VERSION:
        raise ModelFormatError(f"{where} has schema_version {version}; this edgesplit reads up to "
                               f"{SCHEMA_VERSION}: upgrade edgesplit")
    return version


def _problems(data: object, exc: ValidationError) -> list[str]:
    """Every problem; with no known `format`, the format and every problem of the common keys."""
    if _format_of(data) is not None or not isinstance(data, dict):
        return problems(exc, UNKNOWN_HINT, tags=frozenset(MANIFESTS))
    first = ("format: required key is missing" if "format" not in data else
             f"format: must be one of {', '.join(MANIFESTS)} (got {str(data['format'])[:80]!r})")
    common = {k: v for k, v in data.items() if k not in _FORMAT_KEYS} | {"format": "gguf"}
    try:
        _ManifestBase.model_validate(common)
    except ValidationError as rest:
        return [first, *problems(rest, UNKNOWN_HINT)]
    return [first]


def parse_manifest(data: object, where: str) -> Manifest:
    """Validate decoded manifest JSON (schema 1 is migrated first); the error lists every problem."""
    version = _schema_version(data, where)
    if version == 1:
        from .bundle_v1 import migrate

        data = migrate(data)  # type: ignore[arg-type]  # a dict: _schema_version read it
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        lines = _problems(data, exc)
    advice = reexport_advice(_format_of(data))
    if version == 1:
        advice = f"it was written by an older edgesplit (manifest schema 1): {advice}"
    raise BundleIntegrityError(join(where, lines, advice)) from None


def read_manifest(bundle: Path) -> Manifest:
    path = Path(bundle) / MANIFEST
    try:
        if not path.is_file():
            raise ModelFormatError(f"{bundle} is not a bundle: {MANIFEST} is missing")
    except OSError as exc:  # a name too long for the file system
        raise ModelFormatError(f"{str(bundle)[:80]}... cannot be a bundle ({exc.strerror})") from None
    manifest = parse_manifest(_load_json(path), str(path))
    if len(manifest.files) > MAX_FILES:
        raise BundleIntegrityError(f"{path} lists {len(manifest.files)} files (at most {MAX_FILES}); re-export the bundle")
    for name, digest in manifest.files.items():
        _check_entry(path, name, digest)
    return manifest


def new_manifest(**fields: Any) -> Manifest:
    """The manifest class of `fields["format"]`, validated (writers call this, readers `read_manifest`)."""
    return MANIFESTS[fields["format"]](**fields)


def verify_files(bundle: Path, manifest: Manifest) -> None:
    """Raise BundleIntegrityError naming the first file that is missing or was changed."""
    for name, digest in sorted(manifest.files.items()):
        path = Path(bundle) / name
        try:
            if not path.is_file():
                raise BundleIntegrityError(f"bundle {bundle}: file {name[:80]} is missing; re-export the bundle")
            same = sha256_file(path) == digest
        except OSError as exc:
            raise BundleIntegrityError(f"bundle {bundle}: file {name[:80]} cannot be read ({exc.strerror}); "
                                       "re-export the bundle") from None
        if not same:
            raise BundleIntegrityError(
                f"bundle {bundle}: file {name} does not match its sha256 in the manifest "
                "(modified or corrupt); re-export the bundle"
            )


def write_manifest(bundle: Path, manifest: Manifest) -> None:
    (Path(bundle) / MANIFEST).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")
