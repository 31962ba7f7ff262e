"""Auto-tuner: sweep threads × quantization × KV-cache type × flash attention within a time budget.

    result = tune("default", TuneConfig(budget_s=90))
    write_profile(result, Path("hw_profiles/my-laptop.toml"))

Quantized variants of a GGUF source are made with llama.cpp's own quantizer and cached under
$EDGESPLIT_HOME/cache/tune/. Each (quantization, KV type, flash attention) is checked once for
parity: top-1 agreement of next-token predictions on a fixed text against the source weights
with an f32 KV cache. The fastest decode among configurations within tolerance wins (within
5 % of the fastest counts as a tie, broken by parity: one measurement each is that noisy).
"""

from __future__ import annotations

import ctypes
import os
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .bench import bare_llama
from .errors import EdgeError, InvalidRequestError, ProfileError
from .models import ModelRef, edgesplit_home, resolve
from .options import RuntimeOptions, physical_cores
from .profiles import TERNARY, Profile, detect, load_profile, parse_profile

PARITY_TEXT = (
    "The committee met on Tuesday to review the budget for the new library. After a long discussion "
    "about the cost of books, computers and staff, they agreed to open the building in the spring. "
    "Children from the nearby school will visit every week, and the reading room will stay open late "
    "on Thursdays so that workers can borrow books after their shifts."
)
# llama_ftype values (llama.h) for the quantizations the tuner can make from a GGUF source
FTYPES = {"f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q6_k": 18, "q4_k_m": 15,
          "q5_k_m": 17, "tq1_0": 36, "tq2_0": 37}
FTYPE_NAMES = {v: k for k, v in FTYPES.items()} | {0: "f32"}
KV_FLASH = (("f16", True), ("f16", False), ("q8_0", True))  # a quantized KV cache needs flash attention


@dataclass(frozen=True)
class TuneConfig:
    budget_s: float = 90.0
    min_top1: float = 0.9  # parity tolerance: share of next-token predictions that match the reference
    gen_tokens: int = 24
    threads: tuple[int, ...] = ()  # default: 1 .. physical cores
    quants: tuple[str, ...] = ()  # default: the source's plus two from the base profile's order
    kv_flash: tuple[tuple[str, bool], ...] = KV_FLASH

    def __post_init__(self) -> None:
        if self.budget_s <= 0 or not 0 < self.min_top1 <= 1 or self.gen_tokens < 4:
            raise InvalidRequestError("need --budget-s > 0, 0 < --min-top1 <= 1 and gen tokens >= 4")
        bad = [q for q in self.quants if q not in FTYPES]
        if bad:
            raise InvalidRequestError(f"cannot make quantization {bad[0]!r}; choose from {', '.join(FTYPES)}")


@dataclass
class Trial:
    quant: str
    threads: int
    kv_type: str
    flash_attn: bool
    top1: float
    decode_tok_s: float = 0.0
    seconds: float = 0.0

    def ok(self, min_top1: float) -> bool:
        return self.top1 >= min_top1 and self.decode_tok_s > 0


@dataclass
class TuneResult:
    model: str
    source: Path
    source_quant: str
    base: Profile
    config: TuneConfig
    trials: list[Trial]
    paths: dict[str, Path]
    best: Trial | None = None
    elapsed_s: float = 0.0
    skipped: list[str] = field(default_factory=list)

    @property
    def best_path(self) -> Path:
        assert self.best is not None
        return self.paths[self.best.quant]


class _Clock:
    """The budget, less a reserve: a model load or a prefill cannot be interrupted once started."""

    def __init__(self, budget_s: float) -> None:
        self.t0, self.budget, self.worst = time.perf_counter(), budget_s, 0.0
        self.reserve = max(3.0, 0.1 * budget_s)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.budget - self.reserve - self.elapsed()

    def affords(self, estimate: float) -> bool:
        return self.left() > max(estimate, 1.25 * self.worst)


@contextmanager
def _quiet_stderr():
    """llama.cpp's quantizer logs every tensor to fd 2; keep the terminal readable."""
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quantize(src: Path, quant: str, cache: Path) -> Path:
    """`src` requantized to `quant` with llama.cpp (cached by source name and size)."""
    import llama_cpp

    out = cache / f"{src.stem}-{src.stat().st_size}" / f"{quant}.gguf"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = FTYPES[quant], True, physical_cores()
    tmp = out.with_suffix(".part")
    with _quiet_stderr():
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise EdgeError(f"llama.cpp could not quantize {src} to {quant} (code {rc})")
    tmp.rename(out)
    return out


def _argmax_all(path: Path, ids: list[int], kv_type: str, flash: bool, threads: int) -> np.ndarray:
    """Next-token argmax at every position of `ids` (one llama.cpp pass with all logits)."""
    import llama_cpp

    kv = {"f32": 0, "f16": 1, "q8_0": 8}[kv_type]
    llm = llama_cpp.Llama(str(path), logits_all=True, n_ctx=max(64, len(ids) + 8), n_threads=threads,
                          n_threads_batch=threads, type_k=kv, type_v=kv, flash_attn=flash, verbose=False)
    try:
        llm.eval(ids)
        return np.argmax(llm.scores[: len(ids)], axis=1)
    finally:
        llm.close()


def _decode_speed(path: Path, options: RuntimeOptions, ids: list[int], gen_tokens: int, deadline: float) -> float:
    """Greedy decode tok/s on llama.cpp with `options` (the loop `edgesplit bench` shows the Engine
    matches within a few %); a run still going at `deadline` reports its speed so far."""
    import llama_cpp

    llm = bare_llama(ModelRef(path.stem, path, "gguf"), options)
    stamps: list[float] = []
    try:
        for prompt, n in ((ids[1:], 4), (ids, gen_tokens)):  # warm-up, then the measured run
            if time.perf_counter() > deadline:  # no time for the measured run: the warm-up's speed
                break
            stamps = []
            for tok in llm.generate(prompt, temp=0.0, top_k=1, min_p=0.0, repeat_penalty=1.0):
                stamps.append(time.perf_counter())
                if len(stamps) >= n or stamps[-1] > deadline or llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
                    break
        return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else 0.0
    finally:
        llm.close()


def _plan(cfg: TuneConfig, base: Profile, src_quant: str) -> tuple[list[str], list[int]]:
    quants = list(cfg.quants) or [src_quant, *[q for q in base.quantization
                                               if q in FTYPES and q not in TERNARY and q != src_quant][:2]]
    # fewest threads first: one thread is always a sane baseline, even on an oversubscribed host
    threads = list(cfg.threads) or sorted({1, max(1, physical_cores() - 1), physical_cores()})
    return quants, threads


def tune(model: str | ModelRef, config: TuneConfig | None = None, profile: str | Profile | None = None) -> TuneResult:
    """Sweep quantization × KV type × flash attention × threads within `config.budget_s` seconds."""
    cfg = config or TuneConfig()
    clock = _Clock(cfg.budget_s)
    ref = model if isinstance(model, ModelRef) else resolve(model)
    if ref.format != "gguf":
        raise InvalidRequestError("tune quantizes GGUF models with llama.cpp; pass a .gguf file or gguf bundle")
    src = ref.weights_file
    base = load_profile(profile) if profile is not None else detect().profile
    import llama_cpp

    with _quiet_stderr():
        vocab = llama_cpp.Llama(str(src), vocab_only=True, verbose=False)
    ids = vocab.tokenize(PARITY_TEXT.encode(), add_bos=False)
    file_type = vocab.metadata.get("general.file_type", "")
    vocab.close()
    src_quant = FTYPE_NAMES.get(int(file_type), "source") if file_type.isdigit() else "source"
    quants, threads = _plan(cfg, base, src_quant)
    sweep = _Sweep(TuneResult(ref.name, src, quants[0], base, cfg, [], {quants[0]: src}), clock,
                   ids, _argmax_all(src, ids, "f32", False, 1))
    sweep.run(quants, threads)
    result = sweep.result
    passing = [t for t in result.trials if t.ok(cfg.min_top1)]
    if not passing:
        raise EdgeError(f"no configuration finished within {cfg.budget_s:.0f} s with top-1 agreement >= "
                        f"{cfg.min_top1}: raise --budget-s or lower --min-top1")
    # one measurement per configuration: within 5 % of the fastest is a tie, broken by parity
    fastest = max(t.decode_tok_s for t in passing)
    result.best = max((t for t in passing if t.decode_tok_s >= 0.95 * fastest), key=lambda t: (t.top1, t.decode_tok_s))
    result.elapsed_s = clock.elapsed()
    return result


Config = tuple[str, int, str, bool]  # quantization, threads, kv type, flash attention


class _Sweep:
    """Coordinate search, so a small budget still covers every axis once: threads on the source,
    then quantizations at the best thread count, then KV/flash variants of the best, then the
    rest of the grid while time is left."""

    def __init__(self, result: TuneResult, clock: _Clock, ids: list[int], reference: np.ndarray) -> None:
        self.result, self.clock, self.ids, self.reference = result, clock, ids, reference
        self.parity: dict[tuple[str, str, bool], float] = {}
        self.done: set[Config] = set()

    def best(self) -> Trial | None:
        ok = [t for t in self.result.trials if t.ok(self.result.config.min_top1)]
        return max(ok, key=lambda t: t.decode_tok_s) if ok else None

    def run(self, quants: list[str], threads: list[int]) -> None:
        kvf = list(self.result.config.kv_flash)
        src = quants[0]
        self._try([(src, n, *kvf[0]) for n in threads])
        n = b.threads if (b := self.best()) else threads[0]
        self._try([(q, n, *kvf[0]) for q in quants[1:]])
        q = b.quant if (b := self.best()) else src
        self._try([(q, n, kv, fa) for kv, fa in kvf[1:]])
        self._try([(q, n, kv, fa) for q in quants for kv, fa in kvf for n in threads])

    def _try(self, configs: list[Config]) -> None:
        for cfg in configs:
            if cfg in self.done:
                continue
            self.done.add(cfg)
            if not self.clock.affords(2.0) or not self._ensure(cfg[0]):
                self.result.skipped.append("{} threads={} kv={} flash_attn={}".format(*cfg))
                continue
            self._trial(*cfg)

    def _ensure(self, quant: str) -> bool:
        if quant not in self.result.paths:
            if not self.clock.affords(10.0):
                return False
            self.result.paths[quant] = quantize(self.result.source, quant, edgesplit_home() / "cache" / "tune")
        return True

    def _trial(self, quant: str, n: int, kv: str, flash: bool) -> None:
        t0, path = time.perf_counter(), self.result.paths[quant]
        key = (quant, kv, flash)
        if key not in self.parity:  # parity does not depend on threads: one pass, one thread
            self.parity[key] = float(np.mean(_argmax_all(path, self.ids, kv, flash, 1) == self.reference))
        opts = RuntimeOptions(n_threads=n, n_ctx=512, kv_type=kv, flash_attn=flash)
        # no single trial may eat more than a quarter of the budget
        deadline = min(time.perf_counter() + self.clock.left(), t0 + self.clock.budget / 4)
        speed = _decode_speed(path, opts, self.ids[:8], self.result.config.gen_tokens, deadline)
        trial = Trial(quant, n, kv, flash, self.parity[key], speed, time.perf_counter() - t0)
        self.clock.worst = max(self.clock.worst, trial.seconds)
        self.result.trials.append(trial)


# -- the profile --------------------------------------------------------------------------------
def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _comments(result: TuneResult) -> list[str]:
    cfg, best = result.config, result.best
    assert best is not None
    lines = [f"Written by `edgesplit tune` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, host {platform.node()} "
             f"({platform.machine()}, {physical_cores()} cores), base profile {result.base.name}.",
             f"Model {result.model} ({result.source_quant}, {result.source}); budget {cfg.budget_s:.0f} s, "
             f"used {result.elapsed_s:.0f} s.",
             f"Parity: top-1 agreement of next-token predictions on a fixed {len(PARITY_TEXT.split())}-word text "
             f"vs the source with an f32 KV cache; tolerance >= {cfg.min_top1}.",
             f"Best: {best.quant}, {best.threads} threads, kv {best.kv_type}, flash_attn {best.flash_attn}: "
             f"{best.decode_tok_s:.1f} tok/s decode, top-1 {best.top1:.3f}.",
             f"Its weights: {result.best_path}", "Measured (decode tok/s, top-1 agreement):"]
    for t in sorted(result.trials, key=lambda t: -t.decode_tok_s):
        mark = "ok" if t.ok(cfg.min_top1) else "fails parity" if t.top1 < cfg.min_top1 else "cut"
        lines.append(f"  {t.quant:<7} threads={t.threads} kv={t.kv_type:<5} flash_attn={str(t.flash_attn):<5} "
                     f"{t.decode_tok_s:7.1f} tok/s  top-1 {t.top1:.3f}  {mark}")
    lines += [f"  skipped (budget): {s}" for s in result.skipped]
    return lines


def profile_toml(result: TuneResult, name: str) -> str:
    import psutil

    base, best = result.base, result.best
    assert best is not None

    quant = [best.quant, *[q for q in base.quantization if q != best.quant]]
    match = {k: v for k, v in base.match.model_dump().items() if v not in (None, [])}
    match["priority"] = base.match.priority + 1  # a tuned profile wins over its base on the same host
    runtime = {"threads": best.threads, "n_ctx": base.runtime.n_ctx, "n_batch": base.runtime.n_batch,
               "kv_type": best.kv_type, "flash_attn": best.flash_attn, "use_mmap": base.runtime.use_mmap,
               "use_mlock": base.runtime.use_mlock}
    device = {"cores": physical_cores(), "ram_mb": psutil.virtual_memory().total // 2**20}
    out = [f"# {line}" for line in _comments(result)]
    out += [f"name = {_toml(name)}",
            f"description = {_toml(f'Tuned for {result.model} on this host: {best.quant}, {best.threads} threads')}",
            f"backend = {_toml('llamacpp')}", f"quantization = {_toml(quant)}",
            f"execution_providers = {_toml(base.execution_providers)}",
            f"memory_budget_mb = {base.memory_budget_mb}"]
    for section, table in (("match", match), ("device", device), ("runtime", runtime)):
        out += ["", f"[{section}]", *(f"{k} = {_toml(v)}" for k, v in table.items())]
    return "\n".join(out) + "\n"


def write_profile(result: TuneResult, path: Path) -> Profile:
    """Write the tuned profile atomically and return it, validated like any shipped one."""
    path = Path(path)
    if path.suffix != ".toml":
        raise ProfileError(f"{path}: a profile file must end in .toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.part")
    tmp.write_text(profile_toml(result, path.stem))
    tmp.rename(path)
    try:
        return parse_profile(path)
    except ProfileError:
        path.unlink(missing_ok=True)
        raise
