"""Hardware profiles: one TOML file per device class, validated strictly, turned into RuntimeOptions.

    profile, options = apply_profile("raspberry-pi-5", resolve("default"), None)
    print(detect().profile.name, detect().reasons)

Profiles ship as package data in `hw_profiles/`; users add their own under
`$EDGESPLIT_HOME/profiles/` (where `edgesplit tune` writes) or pass a path to a .toml file.
`apply_profile` refuses a model whose weights + KV cache exceed the profile's memory budget.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .bundle import OnnxManifest
from .errors import MemoryBudgetError, ProfileError, UnknownBackendError
from .models import ModelRef, edgesplit_home
from .options import RuntimeOptions, SpeculativeMode, physical_cores
from .runtimes.llamacpp import KV_CACHE, QUANTS
from .validation import join, problems

# bits per weight, for footprint estimates: every GGUF type (edge.runtimes.llamacpp.QUANTS) plus ONNX
# MatMulNBits int8/int4 (block 32)
QUANT_BPW: dict[str, float] = {**{q.name: q.bits for q in QUANTS.values()}, "int8": 9.0, "int4": 5.125}
TERNARY = tuple(q.name for q in QUANTS.values() if q.ternary)  # useful only for weights trained ternary
KV_BYTES: dict[str, float] = {k.name: k.bytes_per_value for k in KV_CACHE.values()}
EXECUTION_PROVIDERS = ("CPU", "XNNPACK", "NNAPI", "QNN", "CoreML", "CUDA")  # as the onnxruntime backend names them
_THREADS = re.compile(r"^(physical|logical)(-([0-9]+))?$")
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "armv8": "aarch64"}
_STRICT = ConfigDict(extra="forbid", strict=True)
UNKNOWN_HINT = "remove it or fix its spelling (see hw_profiles/*.toml)"


class MatchRules(BaseModel):
    """A profile is a candidate for a host only when every rule given here holds."""

    model_config = _STRICT
    arch: list[str] = []
    os: list[str] = []
    cpu_flags: list[str] = []  # all required (from /proc/cpuinfo flags/Features)
    model_contains: list[str] = []  # any of these in the board/SoC/CPU model string
    min_cores: int | None = Field(None, ge=1)
    max_cores: int | None = Field(None, ge=1)
    min_ram_mb: int | None = Field(None, ge=1)
    max_ram_mb: int | None = Field(None, ge=1)
    priority: int = 0  # tie-break between equally specific matches


class Device(BaseModel):
    """Nominal specs of the reference device (used to emulate it and to read bench ratios)."""

    model_config = _STRICT
    cores: int = Field(ge=1)
    ram_mb: int = Field(ge=1)
    bandwidth_gb_s: float | None = Field(None, gt=0)


class Runtime(BaseModel):
    model_config = _STRICT
    threads: int | str = "physical"  # 4, "physical", "physical-1", "logical"
    n_ctx: int = Field(2048, ge=16)
    n_batch: int = Field(512, ge=1)
    kv_type: Literal["f32", "f16", "q8_0", "q4_0"] = "f16"
    flash_attn: bool = True
    use_mmap: bool = True
    use_mlock: bool = False
    ort_spinning: bool = False  # ONNX Runtime busy-waiting threads: only on cores the model has to itself
    speculative: SpeculativeMode = RuntimeOptions.speculative  # draft-free speculative decoding

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1 or isinstance(v, str) and not _THREADS.match(v):
            raise ValueError('threads must be a positive integer, "physical", "logical" or "physical-N"')
        return v


class Profile(BaseModel):
    model_config = _STRICT
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str
    backend: str = "llamacpp"
    quantization: list[str] = Field(min_length=1)  # preference order, best first
    execution_providers: list[str] = ["CPU"]  # ONNX Runtime, tried in order
    memory_budget_mb: int = Field(ge=1)
    match: MatchRules = MatchRules()
    device: Device | None = None
    runtime: Runtime = Runtime()
    _source: Path | None = PrivateAttr(None)

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        from .backends.base import known_backends

        if v not in known_backends():
            raise ValueError(f"unknown backend {v!r}; known: {', '.join(known_backends())}")
        return v

    @field_validator("quantization")
    @classmethod
    def _quant(cls, v: list[str]) -> list[str]:
        bad = [q for q in v if q not in QUANT_BPW]
        if bad:
            raise ValueError(f"unknown quantization {bad[0]!r}; known: {', '.join(QUANT_BPW)}")
        return v

    @field_validator("execution_providers")
    @classmethod
    def _eps(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if e not in EXECUTION_PROVIDERS]
        if bad:
            raise ValueError(f"unknown execution provider {bad[0]!r}; known: {', '.join(EXECUTION_PROVIDERS)}")
        if not v or v[-1] != "CPU":
            raise ValueError('the list must end with "CPU", the fallback for operators other providers lack')
        return v

    @property
    def source(self) -> Path | None:
        return self._source

    def threads_for(self, cores: int | None = None, logical: int | None = None) -> int:
        """Resolve `runtime.threads` against a core count (default: this host's)."""
        spec = self.runtime.threads
        if isinstance(spec, int):
            return spec
        m = _THREADS.match(spec)
        assert m is not None  # validated on load
        base = (cores or physical_cores()) if m.group(1) == "physical" else (logical or os.cpu_count() or 1)
        return max(1, base - int(m.group(3) or 0))

    def runtime_options(self, cores: int | None = None) -> RuntimeOptions:
        r = self.runtime
        return RuntimeOptions(n_threads=self.threads_for(cores), n_ctx=r.n_ctx, n_batch=r.n_batch,
                              flash_attn=r.flash_attn, use_mmap=r.use_mmap, use_mlock=r.use_mlock,
                              kv_type=r.kv_type, execution_providers=tuple(self.execution_providers),
                              ort_spinning=r.ort_spinning, speculative=r.speculative)

    def backend_for(self, fmt: str) -> str | None:
        """The profile's backend when it runs models of `fmt`, else None (the format's default)."""
        from .backends.base import backend_for_format

        try:
            return self.backend if backend_for_format(fmt) == self.backend else None
        except UnknownBackendError:
            return None


# -- loading ------------------------------------------------------------------------------------
def shipped_dirs() -> list[Path]:
    """The `hw_profiles` package data directories (a namespace package: possibly several)."""
    try:
        import hw_profiles
    except ImportError:
        return []
    return [Path(p) for p in hw_profiles.__path__ if Path(p).is_dir()]


def user_dir() -> Path:
    return edgesplit_home() / "profiles"


def _profile_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in [*shipped_dirs(), user_dir()]:
        for f in sorted(d.glob("*.toml")) if d.is_dir() else []:
            found.setdefault(f.stem, f)  # shipped names win over user files
    return found


def parse_profile(path: Path) -> Profile:
    """Read and validate one TOML file; ProfileError names the file and the offending key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from None
    try:
        prof = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(join(str(path), problems(exc, UNKNOWN_HINT))) from None
    if prof.name != path.stem:
        raise ProfileError(f"{path}: name: {prof.name!r} differs from the file name; rename one of them")
    prof._source = path
    return prof


def load_profile(profile: str | os.PathLike | Profile) -> Profile:
    """A Profile from an object, a .toml path, or a name in hw_profiles/ or the user profile dir."""
    if isinstance(profile, Profile):
        return profile
    text = str(profile)
    if text.endswith(".toml") or os.sep in text or Path(text).is_file():
        return parse_profile(Path(text).expanduser())
    files = _profile_files()
    if text not in files:
        raise ProfileError(f"unknown profile {text!r}; known: {', '.join(sorted(files))} "
                           "(or pass a path to a .toml file)")
    return parse_profile(files[text])


def list_profiles() -> list[Profile]:
    return [parse_profile(p) for p in _profile_files().values()]


# -- detection ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Host:
    arch: str
    os: str
    cpu_flags: frozenset[str]
    cores: int
    logical_cores: int
    ram_mb: int
    model: str  # board / SoC / CPU model strings, joined

    def as_dict(self) -> dict:
        return {"arch": self.arch, "os": self.os, "cores": self.cores, "logical_cores": self.logical_cores,
                "ram_mb": self.ram_mb, "model": self.model, "cpu_flags": sorted(self.cpu_flags)}


def parse_cpuinfo(text: str) -> tuple[frozenset[str], list[str], int]:
    """(flags, model strings, processor count) of a /proc/cpuinfo text, x86 or ARM."""
    flags: set[str] = set()
    models: list[str] = []
    processors = 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("flags", "features"):  # x86 "flags", ARM "Features"
            flags.update(value.split())
        elif key == "processor" and value.isdigit():
            processors += 1
        elif key in ("model name", "hardware", "model", "cpu model") and not value.isdigit() \
                and value and value not in models:  # x86 "model" is a number, ARM boards name themselves
            models.append(value)
    return frozenset(flags), models, processors


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().rstrip(b"\0").decode("utf-8", "replace") if path.is_file() else None
    except OSError:
        return None


def _host_os() -> str:
    if sys.platform.startswith("linux"):
        return "android" if "ANDROID_ROOT" in os.environ or Path("/system/build.prop").exists() else "linux"
    return {"darwin": "darwin", "win32": "windows", "ios": "ios"}.get(sys.platform, sys.platform)


def _arch_of(flags: frozenset[str]) -> str | None:
    """The architecture a cpuinfo's flags belong to (ARM lists asimd, x86-64 sse2 and lm), if they tell."""
    if "asimd" in flags:
        return "aarch64"
    return "x86_64" if "sse2" in flags and "lm" in flags else None


def host_facts() -> Host:
    """This machine: architecture, OS, CPU flags, cores, RAM and model strings."""
    import psutil

    flags, models, _ = parse_cpuinfo(_read(Path("/proc/cpuinfo")) or "")
    tree = _read(Path("/proc/device-tree/model"))
    if tree:  # Raspberry Pi and other boards name themselves here
        models.insert(0, tree)
    arch = platform.machine().lower()
    return Host(arch=_ARCH_ALIASES.get(arch, arch), os=_host_os(), cpu_flags=flags, cores=physical_cores(),
                logical_cores=os.cpu_count() or 1, ram_mb=psutil.virtual_memory().total // 2**20,
                model=" | ".join(models) or platform.processor())


def host_from_records(cpuinfo: str, device_tree_model: str | None = None, *, os_name: str = "linux",
                      arch: str | None = None, ram_mb: int = 4096) -> Host:
    """A host described by recorded /proc/cpuinfo text and device-tree model (a board's, a phone's).

    The architecture comes from the flags unless given; the cores from the processor entries.
    """
    flags, models, processors = parse_cpuinfo(cpuinfo)
    if device_tree_model:
        models.insert(0, device_tree_model.rstrip("\0"))
    arch = _ARCH_ALIASES.get(arch or "", arch) or _arch_of(flags)
    if arch is None:
        raise ProfileError("the recorded cpuinfo names no architecture (no asimd or sse2/lm flags): give it")
    n = processors or 1
    return Host(arch=arch, os=os_name, cpu_flags=flags, cores=n, logical_cores=n, ram_mb=ram_mb,
                model=" | ".join(models))


def match_profile(prof: Profile, host: Host) -> tuple[bool, int, list[str]]:
    """(all rules hold, specificity score, one reason per rule)."""
    m, ok, score, why = prof.match, True, 0, []

    def rule(holds: bool, text: str, weight: int = 1) -> None:
        nonlocal ok, score
        ok &= holds
        score += weight if holds else 0
        why.append(("ok: " if holds else "no: ") + text)

    if m.arch:
        rule(host.arch in m.arch, f"arch {host.arch} in {m.arch}")
    if m.os:
        rule(host.os in m.os, f"os {host.os} in {m.os}")
    if m.cpu_flags:
        missing = [f for f in m.cpu_flags if f not in host.cpu_flags]
        rule(not missing, f"cpu flags {m.cpu_flags}" + (f" (missing {missing})" if missing else ""),
             len(m.cpu_flags))
    if m.model_contains:
        rule(any(s.lower() in host.model.lower() for s in m.model_contains),
             f"model {host.model!r} contains one of {m.model_contains}", 5)
    for bound, value, unit, lo in ((m.min_cores, host.cores, "cores", True), (m.max_cores, host.cores, "cores", False),
                                   (m.min_ram_mb, host.ram_mb, "MB RAM", True),
                                   (m.max_ram_mb, host.ram_mb, "MB RAM", False)):
        if bound is not None:
            rule(value >= bound if lo else value <= bound, f"{value} {unit} {'>=' if lo else '<='} {bound}")
    return ok, score, why


@dataclass
class Detection:
    profile: Profile
    reasons: list[str]
    host: Host
    candidates: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"profile": self.profile.name, "reasons": self.reasons, "host": self.host.as_dict(),
                "candidates": self.candidates}


FALLBACK = "generic-low-mem"


def detect(host: Host | None = None, profiles: list[Profile] | None = None) -> Detection:
    """The best-matching profile for `host` (default: this machine) and why."""
    host = host or host_facts()
    profiles = profiles if profiles is not None else list_profiles()
    rows = []
    for p in profiles:
        ok, score, why = match_profile(p, host)
        rows.append({"name": p.name, "matches": ok, "priority": p.match.priority, "score": score, "reasons": why})
    rows.sort(key=lambda r: (r["matches"], r["priority"], r["score"]), reverse=True)
    by_name = {p.name: p for p in profiles}
    if rows and rows[0]["matches"]:
        best = rows[0]
        return Detection(by_name[best["name"]], best["reasons"], host, rows)
    if FALLBACK not in by_name:
        raise ProfileError(f"no profile matches this host ({host.arch}, {host.os}) and {FALLBACK} is missing")
    return Detection(by_name[FALLBACK], [f"no profile matched {host.arch}/{host.os}: using the most "
                                         "conservative one"], host, rows)


# -- memory guard -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelFacts:
    """What the footprint and bandwidth estimates need, read from GGUF metadata or a bundle config."""

    weights_bytes: int  # bytes of weight files on disk
    read_bytes_per_token: int  # weight bytes a dense decode step reads (embedding gather excluded)
    n_params: int
    n_layers: int
    n_kv_heads: int
    head_dim_k: int
    head_dim_v: int
    n_ctx_train: int
    quantization: str | None


def model_facts(ref: ModelRef) -> ModelFacts:
    if ref.format == "gguf":
        path = ref.weights_file
        st = path.stat()
        return _gguf_facts(path, st.st_size, st.st_mtime_ns)
    return _bundle_facts(ref)


@lru_cache(maxsize=16)
def _gguf_facts(path: Path, _size: int, _mtime: int) -> ModelFacts:
    from .gguf_meta import read_gguf_meta

    meta = read_gguf_meta(path)

    def val(key: str, default=0):
        return meta.kv.get(key, default)

    arch = meta.architecture
    heads = int(val(f"{arch}.attention.head_count", 1) or 1)
    head_dim = int(val(f"{arch}.embedding_length", 0)) // heads
    names = {t.name: t.n_bytes for t in meta.tensors}
    total = sum(names.values())
    # with a separate output matrix the embedding table is only gathered one row per token
    gathered = names.get("token_embd.weight", 0) if "output.weight" in names else 0
    return ModelFacts(
        weights_bytes=path.stat().st_size, read_bytes_per_token=total - gathered,
        n_params=sum(t.n_elements for t in meta.tensors), n_layers=int(val(f"{arch}.block_count", 0)),
        n_kv_heads=int(val(f"{arch}.attention.head_count_kv", heads) or heads),
        head_dim_k=int(val(f"{arch}.attention.key_length", head_dim) or head_dim),
        head_dim_v=int(val(f"{arch}.attention.value_length", head_dim) or head_dim),
        n_ctx_train=int(val(f"{arch}.context_length", 0)), quantization=None,
    )


def _bundle_facts(ref: ModelRef) -> ModelFacts:
    import json

    root, manifest = ref.path, ref.manifest
    size = sum((root / n).stat().st_size for n in (manifest.files if manifest else {})
               if n.endswith((".onnx", ".onnx_data", ".data", ".ort", ".gguf")) and (root / n).is_file())
    cfg_file = root / "config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}

    def first(*keys: str, default: int = 0) -> int:
        return next((int(cfg[k]) for k in keys if isinstance(cfg.get(k), int)), default)

    quant = manifest.quantization if manifest else None
    heads = first("num_attention_heads", "num_heads", "n_head", default=1)
    hidden = first("hidden_size", "d_model", "n_embd")
    head_dim = first("head_dim", "d_kv", default=hidden // heads)
    # an untied embedding table is only gathered, one row per token (exports keep it fp32/fp16)
    gathered = 0 if cfg.get("tie_word_embeddings", True) else \
        first("vocab_size") * hidden * (2 if cfg.get("dtype", cfg.get("torch_dtype")) in ("float16", "bfloat16") else 4)
    n_params = manifest.runtime.n_params if isinstance(manifest, OnnxManifest) else None
    return ModelFacts(
        weights_bytes=size, read_bytes_per_token=max(size - gathered, size // 4),
        n_params=int(n_params or size * 8 / QUANT_BPW.get(str(quant).lower(), 32.0)),
        n_layers=first("num_decoder_layers", "num_hidden_layers", "num_layers", "n_layer"),
        n_kv_heads=first("num_key_value_heads", default=heads), head_dim_k=head_dim, head_dim_v=head_dim,
        n_ctx_train=first("max_position_embeddings", "n_positions"), quantization=quant,
    )


def kv_cache_bytes(facts: ModelFacts, n_ctx: int, kv_type: str) -> int:
    """n_layers × n_ctx × n_kv_heads × (k_dim + v_dim) × bytes(kv_type): K and V for every position."""
    n_ctx = min(n_ctx, facts.n_ctx_train or n_ctx)
    return int(facts.n_layers * n_ctx * facts.n_kv_heads * (facts.head_dim_k + facts.head_dim_v)
               * KV_BYTES[kv_type])


def suggest_quantization(facts: ModelFacts, budget_bytes: int, kv_bytes: int,
                         preferences: list[str]) -> str | None:
    """The best quantization (profile order first, then by size) whose weights + KV fit the budget."""
    order = list(dict.fromkeys([*preferences, *sorted(QUANT_BPW, key=QUANT_BPW.get, reverse=True)]))
    for q in order:
        if facts.n_params * QUANT_BPW[q] / 8 + kv_bytes <= budget_bytes:
            return q
    return None


def check_memory(profile: Profile, ref: ModelRef, options: RuntimeOptions) -> int:
    """Estimated footprint in bytes; MemoryBudgetError before loading when over the budget."""
    facts = model_facts(ref)
    kv = kv_cache_bytes(facts, options.n_ctx, options.kv_type)
    total, budget = facts.weights_bytes + kv, profile.memory_budget_mb * 2**20
    if total <= budget:
        return total
    mb = 2**20
    msg = (f"{ref.name} needs about {total / mb:.0f} MB (weights {facts.weights_bytes / mb:.0f} MB + "
           f"{options.kv_type} KV cache {kv / mb:.0f} MB for {options.n_ctx} tokens) but profile "
           f"{profile.name} allows {profile.memory_budget_mb} MB")
    q = suggest_quantization(facts, budget, kv, profile.quantization)
    if q is not None:
        note = " (only for ternary-trained weights)" if q in TERNARY else ""
        msg += (f"; a {q} quantization (~{facts.n_params * QUANT_BPW[q] / 8 / mb:.0f} MB) would fit{note}: "
                "re-export the model at that quantization")
    else:
        msg += "; no quantization fits with this KV cache: lower the context (--ctx) or use kv_type q4_0"
    raise MemoryBudgetError(msg)


def apply_profile(profile: str | os.PathLike | Profile, ref: ModelRef | None,
                  options: RuntimeOptions | None) -> tuple[Profile, RuntimeOptions]:
    """The profile and the options to load with (`options` wins); checks the memory budget when `ref`."""
    prof = load_profile(profile)
    options = options or prof.runtime_options()
    if ref is not None:
        check_memory(prof, ref, options)
    return prof, options

