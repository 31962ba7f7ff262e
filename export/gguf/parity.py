"""Teacher-forced logit parity between a GGUF (llama.cpp, f32 KV cache) and the PyTorch source."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.bundle import DecodeParityFacts, Parity
from edge.runtimes import llamacpp
from export.parity_result import LogitParity

# max |Δlogit| (relative to the largest reference logit when that exceeds 1) for float types; top-1 agreement for the quantized ones (tiny random models have
# flat logits, so the bounds are loose: they catch a broken conversion, not a slightly lossy one)
TOLERANCE: dict[str, float] = {"f32": 1e-3, "f16": 5e-2, "bf16": 2e-1}
MIN_TOP1: dict[str, float] = {"q8_0": 0.9, "q6_k": 0.85, "q5_k_m": 0.8, "q5_k_s": 0.8, "q5_1": 0.8, "q5_0": 0.8,
                              "q4_k_m": 0.6, "q4_k_s": 0.6, "q4_1": 0.6, "q4_0": 0.6, "iq4_nl": 0.6, "iq4_xs": 0.6,
                              "q3_k_m": 0.45, "q2_k": 0.3, "tq2_0": 0.6, "tq1_0": 0.6}


def passed(result: LogitParity, quant: str) -> bool:
    """`quant`'s bounds; the float tolerance is relative to the largest reference logit when that exceeds 1."""
    return result.within(TOLERANCE.get(quant), MIN_TOP1.get(quant), relative=True)


def to_manifest(result: LogitParity, reference: str, quant: str) -> Parity:
    return result.to_manifest(reference, TOLERANCE.get(quant), MIN_TOP1.get(quant))


def causal_logits(path: Path, ids: list[int], threads: int = 2) -> np.ndarray:
    """llama.cpp logits for every position of `ids` (f32 KV cache, no flash attention)."""
    with llamacpp.loaded(path, n_ctx=max(64, len(ids)), logits_all=True, kv_type="f32", threads=threads) as llm:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)


def gguf_logits(path: Path, ids: list[int], decoder_ids: list[int] | None) -> np.ndarray:
    if decoder_ids is None:
        return causal_logits(path, ids)
    from edge.backends.llamacpp_encdec import teacher_forced_logits

    return teacher_forced_logits(path, ids, decoder_ids)


class CausalStepper:
    """llama.cpp's decode loop as `generate` runs it (`eval` one token at a time into the KV cache), f32 KV."""

    def __init__(self, path: Path, n_ctx: int = 256, threads: int = 1) -> None:
        self.llm = llamacpp.open_model(path, n_ctx=n_ctx, kv_type="f32", threads=threads)

    def start(self, ids: list[int]) -> np.ndarray:
        self.llm.reset()
        self.llm.eval(ids)
        return llamacpp.last_logits(self.llm)

    def step(self, token: int) -> np.ndarray:
        self.llm.eval([token])
        return llamacpp.last_logits(self.llm)

    def close(self) -> None:
        self.llm.close()


class EncDecStepper:
    """The T5 backend's runner: encode once, then decode the start token and one token per step."""

    def __init__(self, path: Path, n_ctx: int = 256) -> None:
        from edge.backends.llamacpp_encdec import _Runner
        from edge.options import RuntimeOptions

        self.runner = _Runner(Path(path), RuntimeOptions(kv_type="f32", flash_attn=False), n_ctx)
        self.pos = 0

    def start(self, ids: list[int]) -> np.ndarray:
        self.runner.encode(ids)
        self.pos = 0
        return self.runner.decode([self.runner.start_token], 0)[-1]

    def step(self, token: int) -> np.ndarray:
        self.pos += 1
        return self.runner.decode([token], self.pos)[-1]

    def close(self) -> None:
        self.runner.close()


def stepper(path: Path, encoder_decoder: bool) -> CausalStepper | EncDecStepper:
    return EncDecStepper(path) if encoder_decoder else CausalStepper(path)


# f32 greedy decode must equal the reference's (ties within export.decode.MARGIN aside); quantized types
# get 3/4 of their teacher-forced bound: on tiny random models' flat logits one early quantization flip
# moves the whole 32-step path onto near-ties
DECODE_MIN_AGREEMENT: dict[str, float] = {"f32": 1.0, "f16": 0.9, "bf16": 0.85,
                                          **{q: round(0.75 * v, 3) for q, v in MIN_TOP1.items()}}


def decode_parity(paths: list, gguf: Path, encoder_decoder: bool, quant: str, reference: str) -> DecodeParityFacts:
    """Greedy decode of `gguf` through llama.cpp's KV cache along the reference paths, as a manifest record."""
    from export import decode

    step = stepper(gguf, encoder_decoder)
    try:
        report = decode.compare(paths, step)
    finally:
        step.close()
    scale = max([1.0, *(float(np.abs(p.top_logits).max()) for p in paths)])
    tol = TOLERANCE.get(quant)
    return report.to_manifest(reference, DECODE_MIN_AGREEMENT.get(quant), None if tol is None else tol * scale)
