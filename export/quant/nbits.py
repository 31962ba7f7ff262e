"""Per-architecture plans for weight-only int4/int8 (ONNX MatMulNBits): one home for those choices.

Like llama.cpp's Q4_K_M, an int4 plan keeps the most sensitive projections at 8 bits: the lm_head
always, and per family the attention value/output and MLP down projections, whose errors add
straight into the residual stream. Blocks of 32 along K; smaller blocks are more precise, larger
less. Families with large activations (Gemma's sqrt(hidden)-scaled embeddings) keep fp32
activations in the kernel (accuracy_level 1): int8 activation blocks clip them.
Measured on natural text against fp32 by bench/int4_agreement.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge.bundle import OnnxQuantFacts

# MatMulNBits accuracy_level: 4 = int8 activations (fast on CPU, FINDINGS.md), 1 = fp32 activations
INT8_ACTIVATIONS, FP32_ACTIVATIONS = 4, 1
SENSITIVE = ("v_proj", "o_proj", "down_proj")  # llama-style names; the Q4_K_M choice plus o_proj


@dataclass(frozen=True)
class NBitsPlan:
    """How one architecture's weights go to `bits`: block size, activations, what stays at 8 bits."""

    bits: int
    block_size: int = 32
    accuracy_level: int = INT8_ACTIVATIONS
    symmetric: bool = True
    keep_8bit: tuple[str, ...] = ()  # node-name fragments (besides the lm_head) kept at 8 bits

    def keeps(self, node_name: str) -> bool:
        return any(f"/{frag}/" in node_name for frag in self.keep_8bit)

    def describe(self) -> OnnxQuantFacts:
        """The plan as the bundle manifest records it."""
        return OnnxQuantFacts(bits=self.bits, block_size=self.block_size, accuracy_level=self.accuracy_level,
                              symmetric=self.symmetric, keep_8bit=list(self.keep_8bit))


_DEFAULT = {4: NBitsPlan(4, keep_8bit=SENSITIVE), 8: NBitsPlan(8, block_size=16)}
# (architecture, bits) -> plan; architectures not listed take _DEFAULT[bits]
_PLANS: dict[tuple[str, int], NBitsPlan] = {}


def register_plan(arch: str, plan: NBitsPlan) -> None:
    key = (arch, plan.bits)
    if key in _PLANS:
        raise ValueError(f"an {plan.bits}-bit plan for {arch!r} is already registered")
    _PLANS[key] = plan


def plan_for(arch: str, bits: int, *, block_size: int | None = None,
             keep_8bit: tuple[str, ...] = ()) -> NBitsPlan:
    """The registered plan for `arch`, with the user's --block-size and extra --keep-8bit applied."""
    plan = _PLANS.get((arch, bits), _DEFAULT[bits])
    if block_size is not None:
        plan = replace(plan, block_size=block_size)
    if keep_8bit:
        plan = replace(plan, keep_8bit=tuple(dict.fromkeys((*plan.keep_8bit, *keep_8bit))))
    return plan


for _arch in ("gemma", "gemma2", "gemma3_text"):
    register_plan(_arch, NBitsPlan(4, accuracy_level=FP32_ACTIVATIONS, keep_8bit=SENSITIVE))
    register_plan(_arch, NBitsPlan(8, block_size=16, accuracy_level=FP32_ACTIVATIONS))
register_plan("phi3", NBitsPlan(4, keep_8bit=("o_proj", "down_proj")))  # fused qkv_proj / gate_up_proj
# T5/BART name their projections differently (q/k/v/o, wi/wo; fc1/fc2, out_proj)
register_plan("t5", NBitsPlan(4, keep_8bit=("v", "o", "wo")))
register_plan("bart", NBitsPlan(4, keep_8bit=("v_proj", "out_proj", "fc2")))
