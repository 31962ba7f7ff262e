"""Auto-tuner: race threads × KV-cache type × flash attention (× quantization) within a time budget.

    result = tune("default", TuneConfig(budget_s=90))
    write_profile(gguf_profile_parts(result), result.base, Path("hw_profiles/my-laptop.toml"))

Quality first: every (quantization, KV type, flash attention) is scored once by top-1 agreement
of next-token predictions with the source (f32 KV cache) on natural text (`tune_text`), the
measure export parity uses (`export.gguf.parity.compare`); those under --min-top1 do not race.
Speed like `edgesplit bench`: the rest race in interleaved rounds of greedy decoding
(`tune_race`), dominated ones dropped early; the winner must be ahead beyond the noise, else the
tied configuration of highest quality, then the simplest, is chosen and the result says "tie".

A quantized source (the default Q4_1) is never silently re-quantized: only settings and its own
type are tuned unless `requantize` is set, or a float source (an f16/f32 GGUF, or the f16/f32
GGUF a bundle records as its source) is there to quantize from. Variants are made with
llama.cpp's quantizer and cached under $EDGESPLIT_HOME/cache/tune/.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .bench import bare_llama
from .errors import EdgeError, InvalidRequestError, ProfileError
from .models import ModelRef, edgesplit_home, resolve
from .options import RuntimeOptions, physical_cores
from .profiles import TERNARY, Profile, detect, load_profile, parse_profile
from .runtimes import llamacpp
from .tune_race import Candidate, LoadedModels, RaceLog, RaceResult, choose, race
from .tune_text import NATURAL_TEXT

# the quantizations the tuner makes from a GGUF source (edge.runtimes.llamacpp.QUANTS has their facts)
TUNABLE = ("f16", "q4_0", "q4_1", "q8_0", "q5_0", "q5_1", "q6_k", "q4_k_m", "q5_k_m", "tq1_0", "tq2_0")
KV_FLASH = (("f16", True), ("f16", False), ("q8_0", True))  # a quantized KV cache needs flash attention


FLOAT_TYPES = ("f32", "f16", "bf16")
QUALITY_SHARE = 0.4  # of the budget at most for quality scoring; the rest races
CAP_FACTOR = 3.0  # a measurement may take this many times the quickest one so far
QUALITY_NOISE = 0.03  # top-1 agreements this close are a tie (8 of ~260 natural-text tokens)
Measure = Callable[[Candidate], float]


@dataclass(frozen=True)
class TuneConfig:
    budget_s: float = 90.0
    min_top1: float = 0.9  # quality floor: share of next-token predictions that match the source's
    gen_tokens: int = 24
    threads: tuple[int, ...] = ()  # default: 1, physical - 1, physical
    quants: tuple[str, ...] = ()  # default: the source's type (+ two from the base profile with a float source)
    kv_flash: tuple[tuple[str, bool], ...] = KV_FLASH
    requantize: bool = False  # allow quantizing already-quantized weights again
    max_rounds: int = 12

    def __post_init__(self) -> None:
        if self.budget_s <= 0 or not 0 < self.min_top1 <= 1 or self.gen_tokens < 4:
            raise InvalidRequestError("need --budget-s > 0, 0 < --min-top1 <= 1 and gen tokens >= 4")
        bad = [q for q in self.quants if q not in TUNABLE]
        if bad:
            raise InvalidRequestError(f"cannot make quantization {bad[0]!r}; choose from {', '.join(TUNABLE)}")


@dataclass
class QuantPlan:
    """Which weight types race, and where new ones would be quantized from."""

    types: list[str]
    quantize_from: Path | None  # None: no type other than the source's own
    note: str  # said in the output and the profile


@dataclass
class TuneResult(RaceResult):
    model: str
    source: Path
    source_quant: str
    base: Profile
    config: TuneConfig
    plan: QuantPlan
    candidates: list[Candidate]  # every configuration, in the order they raced
    paths: dict[str, Path]

    @property
    def best_path(self) -> Path:
        assert self.best is not None
        return self.paths[self.best.quant]

    def verdict(self) -> str:
        b = self.best
        assert b is not None
        if self.rounds and not any(c.samples for c in self.candidates if c is not b):
            return (f"only {b.name} raced ({b.median:.1f} tok/s): the others failed or missed quality scoring "
                    "within the budget")
        return self.race_verdict(f"quality (within {QUALITY_NOISE}), then simplicity")


class BudgetClock:
    """The budget, less a reserve: a model load or a prefill cannot be interrupted once started."""

    def __init__(self, budget_s: float) -> None:
        self.t0, self.budget = time.perf_counter(), budget_s
        self.reserve = max(2.0, 0.08 * budget_s)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.budget - self.reserve - self.elapsed()

    def affords(self, estimate: float) -> bool:
        return self.left() > estimate


def quantize(src: Path, quant: str, cache: Path) -> Path:
    """`src` quantized to `quant` with llama.cpp (cached by source name and size)."""
    out = cache / f"{src.stem}-{src.stat().st_size}" / f"{quant}.gguf"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    try:
        llamacpp.quantize(src, tmp, quant, threads=physical_cores(), allow_requantize=True)
    except EdgeError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.rename(out)
    return out


def _file_type(path: Path) -> str:
    return llamacpp.file_quant(path) or "source"


def _float_source(ref: ModelRef, src_quant: str) -> Path | None:
    """A float GGUF to quantize from: the source itself, or the one a bundle records as its source."""
    if src_quant in FLOAT_TYPES:
        return ref.weights_file
    recorded = Path(ref.manifest.source.get("path", "")) if ref.manifest is not None else None
    if recorded and recorded.suffix == ".gguf" and recorded.is_file() and _file_type(recorded) in FLOAT_TYPES:
        return recorded
    return None


def plan_quants(cfg: TuneConfig, base: Profile, ref: ModelRef, src_quant: str) -> QuantPlan:
    """The weight types to race: never a re-quantization of quantized weights unless asked for."""
    float_src = _float_source(ref, src_quant)
    wanted = list(cfg.quants) or [src_quant]
    if float_src is not None or cfg.requantize:
        origin = float_src or ref.weights_file
        if not cfg.quants:
            wanted += [q for q in base.quantization if q in TUNABLE and q not in TERNARY and q != src_quant][:2]
        how = (f"quantizing from the {_file_type(origin) if float_src != ref.weights_file else src_quant} "
               f"weights {origin}" if float_src is not None else
               f"RE-QUANTIZING the {src_quant} weights (--requantize): the quality loss is measured")
        return QuantPlan(list(dict.fromkeys(wanted)), origin, f"weight types {', '.join(wanted)}; {how}")
    if wanted != [src_quant]:
        raise InvalidRequestError(
            f"the source is already quantized ({src_quant}); making {', '.join(q for q in wanted if q != src_quant)} "
            "from it would quantize twice: pass --requantize to allow it, or tune an f16/f32 GGUF")
    return QuantPlan([src_quant], None, f"source is quantized ({src_quant}): tuning settings and its own type only, "
                                        "no re-quantization (pass --requantize, or give an f16/f32 source)")


def plan_candidates(cfg: TuneConfig, plan: QuantPlan) -> list[Candidate]:
    # fewest threads first: one thread is always a sane baseline, even on an oversubscribed host
    threads = list(dict.fromkeys(cfg.threads)) or sorted({1, max(1, physical_cores() - 1), physical_cores()})
    return [Candidate(q, n, kv, fa) for q in plan.types for kv, fa in dict.fromkeys(cfg.kv_flash) for n in threads]


# -- measurements -------------------------------------------------------------------------------
def _logits(path: Path, ids: list[int], kv_type: str, flash: bool) -> np.ndarray:
    """llama.cpp logits at every position of `ids` with this KV cache (one pass)."""
    n = max(64, len(ids) + 8)
    # one thread: llama.cpp's spinning barrier collapses on an oversubscribed host, and this runs once
    with llamacpp.loaded(path, logits_all=True, n_ctx=n, threads=1, kv_type=kv_type, flash_attn=flash) as llm:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)


class _Quality:
    """Top-1 agreement with the source (f32 KV, no flash attention) on NATURAL_TEXT, as export parity
    scores it. Scores are kept in $EDGESPLIT_HOME/cache/tune/quality.json, keyed by file, KV
    setting, text and llama.cpp build, so a second tune spends its budget on speed."""

    def __init__(self, source: Path, ids: list[int], cache: Path) -> None:
        import hashlib
        import json

        self.source, self.ids, self.cache, self._reference = source, ids, cache / "quality.json", None
        self.stamp = hashlib.sha256(f"{ids}{llamacpp.library().__version__}".encode()).hexdigest()[:16]
        try:
            self.scores: dict[str, float] = json.loads(self.cache.read_text())
        except (OSError, ValueError):
            self.scores = {}

    def _key(self, path: Path, kv_type: str, flash: bool) -> str:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{kv_type}|{flash}|{self.source.name}|{self.stamp}"

    def reference(self, causal_logits: Callable[..., np.ndarray]) -> np.ndarray:
        """The source's logits, kept beside the scores so a later tune need not compute them again."""
        import hashlib

        if self._reference is None:
            tag = hashlib.sha256(self._key(self.source, "f32", False).encode()).hexdigest()[:16]
            saved = self.cache.with_name(f"reference-{tag}.npy")
            try:
                self._reference = np.load(saved)
            except (OSError, ValueError):
                self._reference = causal_logits(self.source, self.ids, threads=1)
                self.cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(saved, self._reference)
        return self._reference

    def known(self, path: Path, kv_type: str, flash: bool) -> bool:
        return self._key(path, kv_type, flash) in self.scores

    def top1(self, path: Path, kv_type: str, flash: bool) -> float:
        import json

        from export.gguf.parity import causal_logits
        from export.parity_result import compare

        key = self._key(path, kv_type, flash)
        if key not in self.scores:  # quality does not depend on threads: one pass per weights × KV
            got = _logits(path, self.ids, kv_type, flash)
            self.scores[key] = compare(self.reference(causal_logits), got).top1_agreement
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache.with_suffix(".part")
            tmp.write_text(json.dumps(self.scores, indent=0))
            tmp.replace(self.cache)
        return self.scores[key]


class DecodeRunner(LoadedModels):
    """Greedy decode speed of a candidate on llama.cpp (the loop `edgesplit bench` uses as its
    reference); each candidate's model stays loaded between rounds and is closed when it drops."""

    def __init__(self, paths: dict[str, Path], prompt: list[int], gen_tokens: int, deadline: Callable[[], float]):
        super().__init__()
        self.paths, self.prompt, self.gen_tokens, self.deadline = paths, prompt, gen_tokens, deadline
        self.quickest = float("inf")  # seconds of the quickest measurement so far

    def load(self, c: Candidate) -> None:
        if c.key not in self.loaded:
            opts = RuntimeOptions(n_threads=c.threads, n_ctx=256, kv_type=c.kv_type, flash_attn=c.flash_attn)
            llm = self.loaded[c.key] = bare_llama(ModelRef(c.quant, self.paths[c.quant], "gguf"), opts)
            self._decode(llm, 3, timed=False)  # warm-up: page the weights in, size the buffers

    def __call__(self, c: Candidate) -> float | None:
        """tok/s, or None when the deadline came before the measurement could finish."""
        self.load(c)
        return self._decode(self.loaded[c.key], self.gen_tokens)

    def _decode(self, llm, n: int, timed: bool = True) -> float | None:
        """Greedy tok/s over up to `n` tokens; a measurement taking over CAP_FACTOR× the quickest one
        so far stops early (a rate over fewer tokens), so a crawling candidate cannot eat a round."""
        vocab = llamacpp.Vocab(llm)
        cap = max(0.5, CAP_FACTOR * self.quickest) if timed else float("inf")
        stamps: list[float] = []
        llm.reset()  # the same prompt every round: no cached prefix, same positions decoded
        for tok in llm.generate(self.prompt, temp=0.0, top_k=1, min_p=0.0, repeat_penalty=1.0, reset=True):
            stamps.append(time.perf_counter())
            if stamps[-1] > self.deadline():
                return None
            if len(stamps) >= n or vocab.is_eog(tok) or (
                    len(stamps) > 3 and stamps[-1] - stamps[0] > cap):
                break
        if len(stamps) <= 2:
            return None
        if timed:
            self.quickest = min(self.quickest, stamps[-1] - stamps[0])
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])


# -- the tuner ----------------------------------------------------------------------------------
def _prefer(src_quant: str, base: Profile) -> Callable[[Candidate], tuple]:
    """Among candidates tied in speed and quality: the source's own type, then the fewest changes
    from the base profile's settings, then fewer threads (cores left for the rest of the system),
    then quality."""
    r = base.runtime

    def key(c: Candidate) -> tuple:
        changes = (c.kv_type != r.kv_type) + (c.flash_attn != r.flash_attn)
        return (c.quant == src_quant, -changes, -c.threads, c.top1)

    return key


def tune(model: str | ModelRef, config: TuneConfig | None = None, profile: str | Profile | None = None,
         measure: Measure | None = None) -> TuneResult:
    """Score quality, then race the candidates within `config.budget_s` seconds.

    `measure(candidate) -> tok/s` replaces the llama.cpp decode loop (tests inject one).
    """
    cfg = config or TuneConfig()
    clock = BudgetClock(cfg.budget_s)
    ref = model if isinstance(model, ModelRef) else resolve(model)
    if ref.format != "gguf":
        raise InvalidRequestError("tune measures GGUF models with llama.cpp; pass a .gguf file or gguf bundle")
    src = ref.weights_file
    base = load_profile(profile) if profile is not None else detect().profile
    src_quant = _file_type(src)
    plan = plan_quants(cfg, base, ref, src_quant)
    result = TuneResult(ref.name, src, src_quant, base, cfg, plan, plan_candidates(cfg, plan), {src_quant: src})
    for q in plan.types:
        if q not in result.paths:
            assert plan.quantize_from is not None
            result.paths[q] = quantize(plan.quantize_from, q, edgesplit_home() / "cache" / "tune")
    with llamacpp.vocab_only(src) as vocab:
        ids = vocab.tokenize(NATURAL_TEXT.encode(), add_bos=True)
    _score(result, _Quality(src, ids, edgesplit_home() / "cache" / "tune"), clock)
    _race(result, clock, ids[:16], measure)
    result.elapsed_s = clock.elapsed()
    return result


def _score(result: TuneResult, quality: _Quality, clock: BudgetClock) -> None:
    """Quality of every candidate, within QUALITY_SHARE of the budget (cached scores cost nothing);
    the source's own weights with the base settings come first, so they are always scored."""
    r = result.base.runtime
    first = sorted(result.candidates, key=lambda c: (c.quant != result.source_quant, c.kv_type != r.kv_type,
                                                      c.flash_attn != r.flash_attn))
    longest = 0.0  # the slowest scoring pass so far: the next may take as long
    for i, c in enumerate(first):
        known = quality.known(result.paths[c.quant], c.kv_type, c.flash_attn)
        if i and not known and clock.elapsed() + longest > QUALITY_SHARE * clock.budget:
            c.top1, c.dropped = float("nan"), "quality not scored within the budget"
            continue
        t0 = time.perf_counter()
        c.top1 = quality.top1(result.paths[c.quant], c.kv_type, c.flash_attn)
        longest = max(longest, time.perf_counter() - t0)


def _race(result: TuneResult, clock: BudgetClock, prompt: list[int], measure: Measure | None) -> None:
    cfg = result.config
    entrants = [c for c in result.candidates if c.top1 >= cfg.min_top1]  # NaN (not scored) never is
    for c in result.candidates:
        if c.top1 < cfg.min_top1:
            c.dropped = f"quality: top-1 {c.top1:.3f} < {cfg.min_top1}"
    if not entrants:
        raise EdgeError(f"no configuration reaches top-1 agreement {cfg.min_top1} with the source: "
                        "lower --min-top1 or tune fewer lossy types")
    runner = DecodeRunner(result.paths, prompt, cfg.gen_tokens, lambda: clock.t0 + clock.budget - clock.reserve)
    try:
        if measure is None:  # loads are not measurements: done first, so round times are decode only
            entrants = _load_all(runner, entrants, clock)
        log: RaceLog = race(entrants, measure or runner, clock.affords, max_rounds=cfg.max_rounds,
                            on_drop=runner.drop)
    finally:
        runner.close()
    # no complete round: no speed can be told apart, so all tie and quality, then simplicity, decides
    _, tied = choose(log.alive, prefer=lambda _c: ())
    top = max(c.top1 for c in tied)
    good = [c for c in tied if c.top1 >= top - QUALITY_NOISE]  # quality is measured too: ties within its noise
    result.best, result.tied = max(good, key=_prefer(result.source_quant, result.base)), tied
    result.rounds, result.stopped = log.rounds, log.stopped


def _load_all(runner: DecodeRunner, entrants: list[Candidate], clock: BudgetClock) -> list[Candidate]:
    loaded, longest = [], 0.0
    for c in entrants:
        if loaded and not clock.affords(longest):
            c.dropped = "not loaded within the budget"
            continue
        t0 = time.perf_counter()
        runner.load(c)
        longest = max(longest, time.perf_counter() - t0)
        loaded.append(c)
    return loaded


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


def candidate_line(c: Candidate) -> str:
    """One candidate as the CLI and the profile show it: median [min–max] over its rounds."""
    state = c.dropped or "raced to the end"
    return (f"{c.quant:<7} threads={c.threads} kv={c.kv_type:<5} flash_attn={str(c.flash_attn):<5} "
            f"{c.median:7.1f} tok/s [{c.lo:.1f}-{c.hi:.1f}] x{len(c.samples)}  top-1 {c.top1:.3f}  {state}")


def _comments(result: TuneResult) -> list[str]:
    cfg, best = result.config, result.best
    assert best is not None
    lines = [f"Model {result.model} ({result.source_quant}, {result.source}); budget {cfg.budget_s:.0f} s, "
             f"used {result.elapsed_s:.0f} s; {result.rounds} interleaved rounds ({result.stopped}).",
             f"Weights: {result.plan.note}.",
             f"Quality: top-1 agreement of next-token predictions on {len(NATURAL_TEXT.split())} words of natural "
             f"text vs the source with an f32 KV cache; floor {cfg.min_top1}.",
             f"Result: {result.verdict()}.",
             f"Its weights: {result.best_path}",
             f"Measured (median decode tok/s [min-max] x rounds of {cfg.gen_tokens} greedy tokens):"]
    lines += ["  " + candidate_line(c) for c in sorted(result.candidates, key=lambda c: -c.median)]
    return lines


def _description(result: TuneResult) -> str:
    b = result.best
    assert b is not None
    how = "tie within the noise, chose quality then simplicity" if result.tie else "ahead beyond the noise"
    return f"Tuned for {result.model} on this host: {b.quant}, {b.threads} threads, kv {b.kv_type} ({how})"


def gguf_profile_parts(result: TuneResult) -> ProfileParts:
    best = result.best
    assert best is not None
    quant = [best.quant, *[q for q in result.base.quantization if q != best.quant]]
    return ProfileParts(_comments(result), _description(result), "llamacpp", quant,
                        {"threads": best.threads, "kv_type": best.kv_type, "flash_attn": best.flash_attn})


@dataclass(frozen=True)
class ProfileParts:
    """What a tuner writes into a profile; the rest comes from its base profile."""

    comments: list[str]
    description: str
    backend: str
    quantization: list[str]
    runtime: dict  # the [runtime] keys the race chose


def profile_toml(parts: ProfileParts, base: Profile, name: str) -> str:
    import psutil

    match = {k: v for k, v in base.match.model_dump().items() if v not in (None, [])}
    match["priority"] = base.match.priority + 1  # a tuned profile wins over its base on the same host
    r = base.runtime
    runtime = {"threads": r.threads, "n_ctx": r.n_ctx, "n_batch": r.n_batch, "kv_type": r.kv_type,
               "flash_attn": r.flash_attn, "use_mmap": r.use_mmap, "use_mlock": r.use_mlock,
               "ort_spinning": r.ort_spinning, **parts.runtime}
    device = {"cores": physical_cores(), "ram_mb": psutil.virtual_memory().total // 2**20}
    head = [f"Written by `edgesplit tune` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, host {platform.node()} "
            f"({platform.machine()}, {physical_cores()} cores), base profile {base.name}."]
    out = [f"# {line}" for line in head + parts.comments]
    out += [f"name = {_toml(name)}",
            f"description = {_toml(parts.description)}",
            f"backend = {_toml(parts.backend)}", f"quantization = {_toml(parts.quantization)}",
            f"execution_providers = {_toml(base.execution_providers)}",
            f"memory_budget_mb = {base.memory_budget_mb}"]
    for section, table in (("match", match), ("device", device), ("runtime", runtime)):
        out += ["", f"[{section}]", *(f"{k} = {_toml(v)}" for k, v in table.items())]
    return "\n".join(out) + "\n"


def write_profile(parts: ProfileParts, base: Profile, path: Path) -> Profile:
    """Write a tuned profile atomically and return it, validated like any shipped one."""
    path = Path(path)
    if path.suffix != ".toml":
        raise ProfileError(f"{path}: a profile file must end in .toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.part")
    tmp.write_text(profile_toml(parts, base, path.stem))
    tmp.rename(path)
    try:
        return parse_profile(path)
    except ProfileError:
        path.unlink(missing_ok=True)
        raise
