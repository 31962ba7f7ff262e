"""Ternary weights through TQ1_0/TQ2_0: lossless round trip, sizes, agreement, pre-flight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf.quants import dequantize

from edge.errors import ExportError
from export.gguf.convert import ExportOptions, export_gguf, plan_export
from export.gguf.parity import causal_logits
from export.quant import ternarize
from tests.export.conftest import CORPUS

LINEAR = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
MAX_BPW = {Q.TQ1_0: 1.70, Q.TQ2_0: 2.07}


@pytest.fixture(scope="module")
def bundles(ternary_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ternary")
    out = {}
    for quant in ("f32", "tq1_0", "tq2_0"):
        out[quant] = root / quant
        export_gguf(ternary_llama, out[quant], ExportOptions(quant=quant, ternarize="absmean"))
    return out


def _tensors(bundle: Path) -> dict[str, object]:
    (gguf,) = bundle.glob("*.gguf")
    return {t.name: t for t in GGUFReader(gguf).tensors}


def _linear(name: str) -> bool:
    return name.startswith("blk.") and name.split(".")[2] in LINEAR


def _dense(tensor) -> np.ndarray:  # noqa: ANN001 - gguf's ReaderTensor
    shape = tuple(int(d) for d in reversed(tensor.shape))
    return dequantize(tensor.data, tensor.tensor_type).reshape(shape)


@pytest.mark.parametrize("quant", ["tq1_0", "tq2_0"])
def test_tq_dequantizes_to_the_ternarized_weights_exactly(bundles: dict[str, Path], quant: str) -> None:
    f32, tq = _tensors(bundles["f32"]), _tensors(bundles[quant])
    linear = [n for n in tq if _linear(n)]
    assert len(linear) == 14
    for name in linear:
        assert tq[name].tensor_type == Q[quant.upper()], name
        np.testing.assert_array_equal(_dense(tq[name]), _dense(f32[name]), err_msg=name)


def test_f32_file_holds_ternarize_output(bundles: dict[str, Path], ternary_llama: Path) -> None:
    from safetensors.numpy import load_file

    source = load_file(str(ternary_llama / "model.safetensors"))["model.layers.1.mlp.down_proj.weight"]
    values, scale = ternarize(source, "absmean")
    stored = _dense(_tensors(bundles["f32"])["blk.1.ffn_down.weight"])
    np.testing.assert_array_equal(stored, values.astype(np.float32) * np.float32(scale))


@pytest.mark.parametrize("quant", ["tq1_0", "tq2_0"])
def test_bits_per_weight_from_the_file(bundles: dict[str, Path], quant: str) -> None:
    tq = _tensors(bundles[quant])
    qtype = Q[quant.upper()]
    tensors = [t for n, t in tq.items() if _linear(n)]
    bpw = sum(int(t.n_bytes) for t in tensors) * 8 / sum(int(t.n_elements) for t in tensors)
    assert bpw <= MAX_BPW[qtype], bpw


def test_tq2_0_agrees_with_the_f32_ternary_model(bundles: dict[str, Path], ternary_llama: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(ternary_llama))
    ids = tok(" ".join(dict.fromkeys(CORPUS)))["input_ids"][:120]
    ours = causal_logits(next(bundles["tq2_0"].glob("*.gguf")), ids)
    ref = causal_logits(next(bundles["f32"].glob("*.gguf")), ids)
    assert np.mean(ours.argmax(-1) == ref.argmax(-1)) >= 0.95


def test_tq_without_ternary_weights_is_refused(ternary_llama: Path) -> None:
    with pytest.raises(ExportError, match="--ternarize absmean"):
        plan_export(ternary_llama, ExportOptions(quant="tq2_0"))


def test_qat_checkpoint_keeps_its_scale(ternary_llama: Path, tmp_path: Path) -> None:
    """Weights that already are s·{-1,0,1} are not re-scaled (absmean would change s)."""
    import shutil

    from safetensors.numpy import load_file, save_file

    qat = tmp_path / "qat"
    shutil.copytree(ternary_llama, qat)
    state = load_file(str(qat / "model.safetensors"))
    rng = np.random.default_rng(0)
    scales = {}
    for i, name in enumerate(n for n in sorted(state) if n.endswith("proj.weight")):
        scales[name] = 0.125 * 2.0 ** -(i % 3)  # per-tensor scales absmean would not reproduce
        state[name] = (rng.choice([-1, 0, 0, 1], size=state[name].shape) * scales[name]).astype(np.float32)
    save_file(state, str(qat / "model.safetensors"), metadata={"format": "pt"})
    plan = plan_export(qat, ExportOptions(quant="tq2_0"))  # no --ternarize: the QAT weights qualify
    assert len(plan.ternary) == len(scales) == 14
    assert plan.ternary["blk.0.ffn_up.weight"] == scales["model.layers.0.mlp.up_proj.weight"]
    for name in scales:
        np.testing.assert_array_equal(plan.tensors[name], state[name])


def test_preflight_reports_fallbacks_that_the_file_confirms(tiny_models, tmp_path: Path) -> None:
    src = tiny_models.get("LlamaForCausalLM")  # hidden 64, intermediate 128: no row fits 256
    reported = []
    export_gguf(src, tmp_path / "tq", ExportOptions(quant="tq2_0", ternarize="absmean"),
                on_plan=lambda plan: reported.extend(plan.fallbacks))
    assert {f.tensor for f in reported} >= {"blk.0.attn_q.weight", "blk.1.ffn_down.weight"}
    types = {n: t.tensor_type.name for n, t in _tensors(tmp_path / "tq").items()}
    assert len(reported) == 14  # every block linear, nothing else
    for fb in reported:
        assert fb.wanted == "TQ2_0" and types[fb.tensor] == fb.gets, fb


def test_strict_refuses_before_writing(tiny_models, tmp_path: Path) -> None:
    out = tmp_path / "strict"
    with pytest.raises(ExportError, match="--strict.*blk.0.attn_q.weight"):
        export_gguf(tiny_models.get("LlamaForCausalLM"), out,
                    ExportOptions(quant="q4_k_m", strict=True))
    assert not out.exists() and not list(tmp_path.iterdir())
