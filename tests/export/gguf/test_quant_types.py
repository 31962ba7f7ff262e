"""Every `--quant` type: llama.cpp stores the linear layers in it, and the export meets its parity bound.

The Llama here has rows of 256 (K, IQ4_XS and TQ types fit every linear layer), so the type in
the file is the requested one, not a fallback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from export.gguf.cli import QUANT_CHOICES
from export.gguf.convert import ExportOptions, export_gguf
from export.gguf.parity import MIN_TOP1, TOLERANCE
from export.gguf.quantize import QUANTS, fallback_type

# f32, q8_0, q4_k_m and the TQ types have their own tests (parity, SmolLM2, ternary)
TYPES = [q for q, t in QUANTS.items() if q not in ("f32", "q8_0", "q4_k_m") and not t.ternary]


def test_cli_offers_exactly_the_known_types() -> None:
    assert QUANT_CHOICES == tuple(QUANTS)


@pytest.mark.parametrize("quant", TYPES)
def test_type_is_stored_and_meets_its_bound(quant: str, ternary_llama: Path, tmp_path: Path) -> None:
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFReader

    manifest = export_gguf(ternary_llama, tmp_path / quant, ExportOptions(quant=quant))
    types = {t.name: t.tensor_type for t in GGUFReader(tmp_path / quant / f"model-{quant}.gguf").tensors}
    assert types["blk.0.attn_q.weight"] == Q[QUANTS[quant].ggml], types["blk.0.attn_q.weight"]
    parity = manifest.parity
    assert parity is not None and parity.min_top1 == MIN_TOP1.get(quant) and parity.tolerance == TOLERANCE.get(quant)
    assert parity.min_top1 is not None or parity.tolerance is not None  # every type has a bound
    assert not manifest.quant.fallbacks


def test_iq4_xs_falls_back_to_iq4_nl_on_short_rows() -> None:
    from gguf import GGMLQuantizationType as Q

    assert fallback_type(96, Q.IQ4_XS) == Q.IQ4_NL and fallback_type(100, Q.IQ4_XS) == Q.F16
    assert fallback_type(96, Q.Q3_K) == Q.Q4_0 and fallback_type(512, Q.Q2_K) == Q.Q2_K
