"""Latency profiler: TTFT, prefill and decode speed, inter-token latency, memory and bandwidth use.

    report = run_bench([Target("default")], BenchConfig(prompt_tokens=128, gen_tokens=64, repeat=3))
    print(format_table(report))

Every target gets a prompt of exactly N tokens in its own tokenizer, greedy decoding of
`gen_tokens` tokens and the Engine's wall-clock timings, so llama.cpp and ONNX Runtime rows (and
encoder-decoder vs decoder-only models) are counted the same way. Targets run interleaved, one
repetition of each in turn, so load drift on a shared machine hits all of them alike. Each
repetition uses a different prompt (rotated filler text) so no backend can reuse a cached prefix,
and the prompt cache is off: the next run's prompts are this run's, which its disk store would serve.
For llama.cpp targets a bare llama-cpp-python loop runs alongside as the reference.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .engine import Engine, GenerationResult
from .errors import EdgeError, InvalidRequestError
from .models import ModelRef
from .options import RuntimeOptions
from .profiles import Profile, apply_profile, kv_cache_bytes, load_profile, model_facts
from .runtimes import llamacpp

FILLER = ("the old lighthouse keeper climbed the narrow stairs every evening to light the lamp and "
          "watched the ships pass far out at sea while the wind sang against the glass").split()
_PADS = (" a", " the", " and", ".")
FIELDS = ("ttft_ms", "prefill_tok_s", "decode_tok_s", "decode_tok_s_sd", "itl_p50_ms", "itl_p95_ms",
          "peak_rss_mb", "bytes_per_token", "bandwidth_gb_s", "bandwidth_ratio")
TARGET_KEYS = ("model", "backend", "profile", "threads", "label")


@dataclass(frozen=True)
class Target:
    """One thing to measure: a model on a backend under a profile."""

    model: str = "default"
    backend: str | None = None
    profile: str | None = None
    threads: int | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        extra = [f"{k}={v}" for k, v in (("backend", self.backend), ("profile", self.profile),
                                         ("threads", self.threads)) if v]
        return self.label or ",".join([self.model, *extra])


def parse_target(spec: str, base: Target) -> Target:
    """`MODEL[,backend=B][,profile=P][,threads=N][,label=L]`; parts left out come from `base`."""
    changes: dict = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            changes["model"] = part
        elif key not in TARGET_KEYS:
            raise InvalidRequestError(f"unknown key {key!r} in --compare target {spec!r}; use {', '.join(TARGET_KEYS)}")
        elif key == "threads":
            if not value.isdigit() or int(value) < 1:
                raise InvalidRequestError(f"threads must be a positive integer in {spec!r}")
            changes[key] = int(value)
        else:
            changes[key] = value
    return replace(base, **changes)


@dataclass(frozen=True)
class BenchConfig:
    prompt_tokens: int = 128
    gen_tokens: int = 64
    repeat: int = 3
    warmup: int = 1
    reference: bool = True  # bare llama-cpp-python loop beside llama.cpp targets

    def __post_init__(self) -> None:
        if self.prompt_tokens < 4 or self.gen_tokens < 2 or self.repeat < 1 or self.warmup < 0:
            raise InvalidRequestError("need --prompt-tokens >= 4, --gen-tokens >= 2 and --repeat >= 1")


# -- emulation ----------------------------------------------------------------------------------
@dataclass
class Emulation:
    """Restrictions that make this host rehearse a smaller device: threads, CPU affinity, budget."""

    profile: Profile
    options: RuntimeOptions
    cpus: list[int]
    notes: list[str]


def _available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def plan_emulation(profile: str | Profile) -> Emulation:
    prof = load_profile(profile)
    cores = prof.device.cores if prof.device else len(_available_cpus())
    wanted = prof.threads_for(cores=cores, logical=cores)
    cpus = _available_cpus()[:wanted]
    notes = [f"EMULATION of {prof.name} on this {platform.machine()} host: the timings are this machine's "
             f"under the restrictions below, not measurements of a real {prof.name}",
             f"threads {len(cpus)}" + (f" (the profile wants {wanted}; this host has only {len(cpus)} CPUs)"
                                       if len(cpus) < wanted else f" ({prof.runtime.threads} of {cores} cores)"),
             f"CPU affinity pinned to CPUs {cpus}",
             f"memory budget {prof.memory_budget_mb} MB: checked before loading and against peak RSS"]
    if prof.device and prof.device.bandwidth_gb_s:
        notes.append(f"the real device's memory bandwidth is ~{prof.device.bandwidth_gb_s} GB/s")
    options = prof.runtime_options(cores=cores).with_(n_threads=len(cpus))
    return Emulation(prof, options, cpus, notes)


@contextmanager
def pinned(cpus: list[int] | None) -> Iterator[None]:
    """Pin this process (and threads it starts later, e.g. llama.cpp's) to `cpus`."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# -- measurements -------------------------------------------------------------------------------
def measure_bandwidth(threads: int = 1, size_mb: int = 256, repeat: int = 4) -> float:
    """Memory copy bandwidth in GB/s (bytes read + written), best of 1 and `threads` streams.

    Two 256 MB arrays exceed the last-level cache of laptops and boards, so this is DRAM speed.
    """
    src = np.ones(size_mb * 2**20 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in before timing
    best = 0.0
    for n in sorted({1, max(1, threads)}):
        bounds = np.linspace(0, len(src), n + 1, dtype=int)

        def copy(i: int, b: np.ndarray = bounds) -> None:
            np.copyto(dst[b[i]:b[i + 1]], src[b[i]:b[i + 1]])

        with ThreadPoolExecutor(n) as pool:
            for _ in range(repeat):
                t0 = time.perf_counter()
                list(pool.map(copy, range(n)))
                best = max(best, 2 * src.nbytes / (time.perf_counter() - t0))
    return best / 1e9


class RssSampler(threading.Thread):
    """Samples this process's resident set size every `period` seconds; `peak` since `reset()`."""

    def __init__(self, period: float = 0.01) -> None:
        super().__init__(daemon=True)
        import psutil

        self._proc, self._period, self._halt = psutil.Process(), period, threading.Event()
        self.peak = self.rss()

    def rss(self) -> int:
        return self._proc.memory_info().rss

    def reset(self) -> None:
        self.peak = self.rss()

    def run(self) -> None:
        while not self._halt.wait(self._period):
            self.peak = max(self.peak, self.rss())

    def stop(self) -> None:
        self._halt.set()
        self.join()


def exact_prompt(engine: Engine, n: int, offset: int = 0) -> str:
    """Filler text (rotated by `offset` words) that is exactly `n` tokens in the engine's tokenizer."""
    words = [FILLER[(offset + i) % len(FILLER)] for i in range(n + 8)]
    words[0] = words[0].capitalize()

    def count(k: int) -> int:
        return len(engine.tokenize(" ".join(words[:k])))

    if count(1) > n:
        raise InvalidRequestError(f"--prompt-tokens {n} is fewer than this tokenizer needs for one word")
    lo, hi = 1, len(words)
    while lo < hi:  # the most words that stay within n tokens
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(mid) <= n else (lo, mid - 1)
    text = " ".join(words[:lo])
    have = count(lo)
    while have < n:  # top up one token at a time
        pad = next((p for p in _PADS if len(engine.tokenize(text + p)) == have + 1), None)
        if pad is None:
            raise InvalidRequestError(f"cannot build a prompt of exactly {n} tokens for this tokenizer")
        text, have = text + pad, have + 1
    return text


def bare_llama(ref: ModelRef, options: RuntimeOptions, n_ctx: int | None = None):
    """A plain llama_cpp.Llama with the same file and options as the Engine's backend."""
    return llamacpp.open_with_options(ref.weights_file, options, n_ctx)


def bare_loop(llm, ids: list[int], n: int) -> float:
    """The reference: llama-cpp-python's own generator, greedy, n tokens (or until EOS); decode tok/s."""
    vocab = llamacpp.Vocab(llm)
    stamps: list[float] = []
    for tok in llm.generate(ids, temp=0.0, top_k=40, top_p=0.95, min_p=0.0, repeat_penalty=1.0):
        stamps.append(time.perf_counter())
        if vocab.is_eog(tok) or len(stamps) >= n:
            break
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


# -- the run ------------------------------------------------------------------------------------
@dataclass
class _Slot:
    target: Target
    engine: Engine
    bare: object | None = None
    resident: int = 0  # bytes of RSS this target added (engine + bare reference)
    bare_resident: int = 0  # of which the bare reference
    prompts: dict[int, str] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=lambda: {
        k: [] for k in ("ttft_ms", "prefill_tok_s", "decode_tok_s", "itl_ms", "peak", "ref", "gen")})


@dataclass
class BenchReport:
    rows: list[dict]
    bandwidth_gb_s: float
    config: BenchConfig
    notes: list[str] = field(default_factory=list)


def load_target(t: Target, emulation: Emulation | None = None, **changes) -> Engine:
    """Load a target's engine; `changes` override RuntimeOptions fields (e.g. speculative="off")."""
    profile: Profile | None = load_profile(t.profile) if t.profile else None
    options = None
    if emulation is not None and (profile is None or profile.name == emulation.profile.name):
        profile, options = emulation.profile, emulation.options
    elif profile is not None:
        _, options = apply_profile(profile, None, None)
    if t.threads:
        options = (options or RuntimeOptions()).with_(n_threads=t.threads)
    if changes:
        options = (options or RuntimeOptions()).with_(**changes)
    return Engine.load(t.model, profile=profile, backend=t.backend, options=options)


def _prompt(slot: _Slot, k: int, n: int) -> str:
    if k not in slot.prompts:
        slot.prompts[k] = exact_prompt(slot.engine, n, offset=k)
    return slot.prompts[k]


def _generate(slot: _Slot, k: int, config: BenchConfig) -> tuple[str, GenerationResult]:
    """Greedy generation of gen_tokens; a prompt that reaches EOS early is swapped for another."""
    for attempt in range(3):
        prompt = _prompt(slot, k + 1000 * attempt, config.prompt_tokens)
        result = slot.engine.generate(prompt, max_tokens=config.gen_tokens, temperature=0.0)
        if result.completion_tokens >= config.gen_tokens:
            break
    if result.completion_tokens < 2:
        raise EdgeError(f"{slot.target.name} stops after {result.completion_tokens} tokens on every prompt")
    return prompt, result


def _load(t: Target, config: BenchConfig, emulation: Emulation | None, sampler: RssSampler) -> _Slot:
    before = sampler.rss()
    slot = _Slot(t, load_target(t, emulation, prompt_cache="off"))  # TTFT and prefill of a cold prompt
    prompts = [_generate(slot, i, config)[0] for i in range(config.warmup)]
    mid = sampler.rss()
    if config.reference and slot.engine.backend_name == "llamacpp":
        slot.bare = bare_llama(slot.engine.ref, slot.engine.options, slot.engine.info.n_ctx)
        for prompt in prompts:
            bare_loop(slot.bare, slot.engine.tokenize(prompt), config.gen_tokens)
    slot.resident, slot.bare_resident = max(0, sampler.rss() - before), max(0, sampler.rss() - mid)
    return slot


def _measure(slot: _Slot, k: int, config: BenchConfig, sampler: RssSampler, others: int) -> None:
    s = slot.samples
    sampler.reset()
    prompt, r = _generate(slot, k, config)
    s["peak"].append(sampler.peak - others)  # as if this target were the only one loaded
    t = r.timings
    s["ttft_ms"].append(t.ttft_ms)
    s["prefill_tok_s"].append(t.prefill_tok_s)
    s["decode_tok_s"].append(t.decode_tok_s)
    s["itl_ms"].extend(x * 1000 for x in t.itl_s)
    s["gen"].append(r.completion_tokens)
    if slot.bare is not None:
        s["ref"].append(bare_loop(slot.bare, slot.engine.tokenize(prompt), config.gen_tokens))


def run_bench(targets: list[Target], config: BenchConfig, progress: Callable[[str], None] | None = None,
              emulation: Emulation | None = None) -> BenchReport:
    """Warm up every target, then `repeat` interleaved rounds; one row per target."""
    step = progress or (lambda _desc: None)
    slots: list[_Slot] = []
    with pinned(emulation.cpus if emulation else None):
        threads = emulation.options.threads if emulation else RuntimeOptions().threads
        bandwidth = measure_bandwidth(threads)
        sampler = RssSampler()
        sampler.start()
        try:
            for t in targets:
                slots.append(_load(t, config, emulation, sampler))
                step(f"loaded {t.name}")
            for rep in range(config.repeat):
                for slot in slots:
                    others = slot.bare_resident + sum(o.resident for o in slots if o is not slot)
                    _measure(slot, config.warmup + rep, config, sampler, others)
                    step(f"{slot.target.name} round {rep + 1}")
        finally:
            sampler.stop()
            for slot in slots:
                slot.engine.close()
    rows = [_row(s, config, bandwidth, emulation) for s in slots]
    return BenchReport(rows, bandwidth, config, (emulation.notes if emulation else []) + _budget_notes(rows, emulation))


def _bytes_per_token(slot: _Slot, config: BenchConfig) -> int:
    """Weights a dense decode step reads plus the KV cache at the mean decode position."""
    engine = slot.engine
    try:
        facts = model_facts(engine.ref)
    except Exception:  # a format without readable metadata: no ceiling rather than a wrong one
        return 0
    kv_type = engine.options.kv_type if engine.backend_name == "llamacpp" else "f32"
    return facts.read_bytes_per_token + kv_cache_bytes(facts, config.prompt_tokens + config.gen_tokens // 2, kv_type)


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def _row(slot: _Slot, config: BenchConfig, bandwidth: float, emulation: Emulation | None) -> dict:
    s, engine = slot.samples, slot.engine
    (ttft, ttft_sd), (pre, pre_sd), (dec, dec_sd) = (_mean_sd(s[k]) for k in ("ttft_ms", "prefill_tok_s", "decode_tok_s"))
    bpt = _bytes_per_token(slot, config)
    row = {"model": slot.target.model, "backend": engine.backend_name,
           "profile": getattr(engine.profile, "name", None), "label": slot.target.name,
           "ttft_ms": ttft, "ttft_ms_sd": ttft_sd, "prefill_tok_s": pre, "prefill_tok_s_sd": pre_sd,
           "decode_tok_s": dec, "decode_tok_s_sd": dec_sd,
           "itl_p50_ms": float(np.percentile(s["itl_ms"], 50)), "itl_p95_ms": float(np.percentile(s["itl_ms"], 95)),
           "peak_rss_mb": max(s["peak"]) / 2**20, "bytes_per_token": bpt, "bandwidth_gb_s": bandwidth,
           "bandwidth_ratio": dec * bpt / (bandwidth * 1e9) if bpt else None,
           "threads": engine.options.threads, "prompt_tokens": config.prompt_tokens,
           "gen_tokens": min(s["gen"]), "repeat": config.repeat, "emulated": emulation is not None}
    if s["ref"]:
        ref, ref_sd = _mean_sd(s["ref"])
        row.update(reference_decode_tok_s=ref, reference_decode_tok_s_sd=ref_sd,
                   decode_vs_reference=dec / ref if ref else None)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def _budget_notes(rows: list[dict], emulation: Emulation | None) -> list[str]:
    if emulation is None:
        return []
    budget = emulation.profile.memory_budget_mb
    return [f"{r['label']}: peak RSS {r['peak_rss_mb']:.0f} MB exceeds the emulated {budget} MB budget"
            for r in rows if r["peak_rss_mb"] > budget]


# -- output -------------------------------------------------------------------------------------
_COLUMNS = (("target", 0), ("backend", 0), ("thr", 0), ("TTFT ms", 1), ("prefill tok/s", 1),
            ("decode tok/s", 1), ("ITL p50/p95 ms", 0), ("RSS MB", 0), ("MB/tok", 0), ("BW ratio", 0),
            ("bare tok/s", 1))


def _cells(r: dict) -> list[str]:
    ref = r.get("reference_decode_tok_s")
    ratio = r["bandwidth_ratio"]
    return [r["label"], r["backend"], str(r["threads"]), f"{r['ttft_ms']:.1f} ± {r['ttft_ms_sd']:.1f}",
            f"{r['prefill_tok_s']:.1f} ± {r['prefill_tok_s_sd']:.1f}",
            f"{r['decode_tok_s']:.1f} ± {r['decode_tok_s_sd']:.1f}",
            f"{r['itl_p50_ms']:.2f} / {r['itl_p95_ms']:.2f}", f"{r['peak_rss_mb']:.0f}",
            f"{r['bytes_per_token'] / 1e6:.1f}", f"{ratio:.2f}" if ratio is not None else "-",
            f"{ref:.1f} ± {r['reference_decode_tok_s_sd']:.1f}" if ref is not None else "-"]


def format_table(report: BenchReport) -> str:
    """A plain-text table, one row per target, with the run's conditions underneath."""
    cells = [[c for c, _ in _COLUMNS]] + [_cells(r) for r in report.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    c = report.config
    lines.append(f"{c.prompt_tokens} prompt tokens, {c.gen_tokens} generated, greedy; mean ± sd of {c.repeat} "
                 f"interleaved repetitions after {c.warmup} warm-up; copy bandwidth {report.bandwidth_gb_s:.1f} GB/s")
    return "\n".join([*report.notes, *lines])


def write_csv(report: BenchReport, path: Path | None = None) -> str:
    import csv
    import io

    buf = io.StringIO()
    keys = list(dict.fromkeys(k for r in report.rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(report.rows)
    if path is not None:
        Path(path).write_text(buf.getvalue())
    return buf.getvalue()


def plot(report: BenchReport, path: Path) -> None:
    """A PNG with TTFT, prefill, decode (with the bare reference) and ITL per target."""
    try:
        import matplotlib
    except ImportError:
        raise EdgeError("--plot needs matplotlib: pip install 'edgesplit[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.rows
    labels = [r["label"] for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 4, figsize=(4 + 3.2 * max(2, len(rows)), 4))
    for ax, key, title in zip(axes[:3], ("ttft_ms", "prefill_tok_s", "decode_tok_s"),
                              ("TTFT (ms)", "prefill (tok/s)", "decode (tok/s)"), strict=True):
        ax.bar(x, [r[key] for r in rows], width=0.55, yerr=[r[f"{key}_sd"] for r in rows], capsize=4,
               label="edgesplit")
        ax.set_title(title)
    refs = [r.get("reference_decode_tok_s") or 0.0 for r in rows]
    if any(refs):
        axes[2].bar(x + 0.43, refs, width=0.3, color="grey", label="bare llama-cpp-python")
        axes[2].legend(fontsize=7)
    axes[3].bar(x - 0.2, [r["itl_p50_ms"] for r in rows], width=0.4, label="p50")
    axes[3].bar(x + 0.2, [r["itl_p95_ms"] for r in rows], width=0.4, label="p95")
    axes[3].set_title("inter-token latency (ms)")
    axes[3].legend(fontsize=7)
    for ax in axes:
        ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=7)
    fig.suptitle(f"edgesplit bench: {report.config.prompt_tokens} prompt / {report.config.gen_tokens} generated tokens"
                 + (" (EMULATION)" if report.notes and report.notes[0].startswith("EMULATION") else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
