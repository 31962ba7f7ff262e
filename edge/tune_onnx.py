"""`edgesplit tune` for ONNX bundles: race intra-op threads × thread spinning on ONNX Runtime.

    result = tune_onnx(resolve("./smollm2-int4"), budget_s=60, gen_tokens=24, threads=(1, 2), base=detect().profile)
    write_profile(ort_profile_parts(result), result.base, Path("hw_profiles/my-phone-ort.toml"))

The weights and their numerics are the bundle's, so there is no quality scoring: only settings
race, in the interleaved rounds of `tune_race`, each candidate's session loaded once. Spinning
(ORT's intra-op threads busy-wait between ops) decides most of the speed on a small model: on a
quiet 2-core EPYC it took the int4 decode loop from 0.60x to 0.97x of onnxruntime-genai's, which
always spins. It also burns those cores, and where other work shares them it has halved speed;
the race measures this host as it is while the tuner runs, so tune on the device as it will be
used, and the profile says what won and by how much.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .engine import Engine
from .errors import InvalidRequestError
from .models import ModelRef
from .options import RuntimeOptions, physical_cores
from .profiles import QUANT_BPW, Profile
from .tune import BudgetClock, ProfileParts
from .tune_race import Entrant, LoadedModels, RaceResult, choose, race
from .tune_text import NATURAL_TEXT

ORT_QUANT_NAMES = {"fp32": "f32", "fp16": "f16"}  # a bundle's quantization as a profile names it


@dataclass
class OrtCandidate(Entrant):
    """One ONNX Runtime setting and what was measured of it."""

    threads: int
    spinning: bool

    @property
    def name(self) -> str:
        return f"t{self.threads} {'spin' if self.spinning else 'no-spin'}"

    @property
    def key(self) -> tuple[int, bool]:
        return (self.threads, self.spinning)

    def as_dict(self) -> dict:
        return {"threads": self.threads, "ort_spinning": self.spinning, **self.speeds()}


@dataclass
class OrtTuneResult(RaceResult):
    model: str
    bundle: Path
    quantization: str
    base: Profile
    budget_s: float
    gen_tokens: int
    candidates: list[OrtCandidate]

    def verdict(self) -> str:
        return self.race_verdict("the base profile's spinning, then fewer threads")


def plan_ort_candidates(threads: tuple[int, ...]) -> list[OrtCandidate]:
    counts = list(dict.fromkeys(threads)) or sorted({1, max(1, physical_cores() - 1), physical_cores()})
    return [OrtCandidate(n, spin) for n in counts for spin in (False, True)]


class OrtRunner(LoadedModels):
    """Greedy decode tok/s of a candidate on edgesplit's ONNX Runtime loop (speculation and the prompt
    cache off, so each round decodes the same positions the same way); sessions stay loaded. The
    prompt (the first 16 tokens of natural text) is tokenized by the first session loaded."""

    def __init__(self, ref: ModelRef, base: RuntimeOptions, gen_tokens: int) -> None:
        super().__init__()
        self.ref, self.base, self.gen_tokens = ref, base, gen_tokens
        self.prompt: list[int] = []

    def load(self, c: OrtCandidate) -> Engine:
        if c.key not in self.loaded:
            opts = self.base.with_(n_threads=c.threads, ort_spinning=c.spinning, speculative="off",
                                   prompt_cache="off")
            engine = self.loaded[c.key] = Engine.load(self.ref, options=opts)
            self.prompt = self.prompt or engine.encode(NATURAL_TEXT)[:16]
            engine.generate(self.prompt, max_tokens=3, temperature=0.0, ignore_eos=True)  # warm-up
        return self.loaded[c.key]

    def __call__(self, c: OrtCandidate) -> float | None:
        r = self.load(c).generate(self.prompt, max_tokens=self.gen_tokens, temperature=0.0, ignore_eos=True)
        return r.timings.decode_tok_s or None


def tune_onnx(ref: ModelRef, budget_s: float, gen_tokens: int, threads: tuple[int, ...], base: Profile,
              max_rounds: int = 12, measure: Callable[[OrtCandidate], float | None] | None = None) -> OrtTuneResult:
    """Race the candidates within `budget_s`; `measure(candidate) -> tok/s` replaces the decode loop
    (tests inject one)."""
    if ref.format != "onnx" or ref.manifest is None:
        raise InvalidRequestError(f"{ref.name}: tune_onnx needs an ONNX bundle")
    clock = BudgetClock(budget_s)
    result = OrtTuneResult(ref.name, ref.path, ref.manifest.quantization, base, budget_s, gen_tokens,
                           plan_ort_candidates(threads))
    runner = None
    if measure is None:
        runner = measure = OrtRunner(ref, base.runtime_options(), gen_tokens)
    try:
        log = race(result.candidates, measure, clock.affords, max_rounds=max_rounds,
                   on_drop=runner.drop if runner is not None else None)
    finally:
        if runner is not None:
            runner.close()
    _, tied = choose(log.alive, prefer=lambda _c: ())
    spin = base.runtime.ort_spinning
    result.best = max(tied, key=lambda c: (c.spinning == spin, -c.threads))
    result.tied, result.rounds, result.stopped = tied, log.rounds, log.stopped
    result.elapsed_s = clock.elapsed()
    return result


def ort_candidate_line(c: OrtCandidate) -> str:
    """One candidate as the CLI and the profile show it: median [min–max] over its rounds."""
    return (f"threads={c.threads} ort_spinning={str(c.spinning):<5} {c.median:7.1f} tok/s "
            f"[{c.lo:.1f}-{c.hi:.1f}] x{len(c.samples)}  {c.dropped or 'raced to the end'}")


def ort_profile_parts(result: OrtTuneResult) -> ProfileParts:
    """What the profile writer (`tune.write_profile`) takes from an ONNX race."""
    b = result.best
    assert b is not None
    comments = [f"Model {result.model} (ONNX {result.quantization}, {result.bundle}); budget {result.budget_s:.0f} s, "
                f"used {result.elapsed_s:.0f} s; {result.rounds} interleaved rounds ({result.stopped}).",
                "ONNX Runtime settings only (the bundle's weights): intra-op threads x spinning. Spinning threads "
                "busy-wait between ops: fastest on cores the model has to itself, slower where other work shares them.",
                f"Result: {result.verdict()}.",
                f"Measured (median decode tok/s [min-max] x rounds of {result.gen_tokens} greedy tokens):"]
    comments += ["  " + ort_candidate_line(c) for c in sorted(result.candidates, key=lambda c: -c.median)]
    how = "tie within the noise" if result.tie else "ahead beyond the noise"
    description = (f"Tuned for {result.model} on this host: ONNX Runtime, {b.threads} threads, "
                   f"spinning {'on' if b.spinning else 'off'} ({how})")
    quant = ORT_QUANT_NAMES.get(result.quantization, result.quantization)
    quants = [quant, *[q for q in result.base.quantization if q != quant]] if quant in QUANT_BPW \
        else list(result.base.quantization)
    return ProfileParts(comments, description, "onnxruntime", quants, {"threads": b.threads, "ort_spinning": b.spinning})
