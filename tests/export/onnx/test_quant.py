"""Quantized exports of tiny models: MatMulNBits in the graph, untied lm_head, ternary packing."""

from __future__ import annotations

import re

import numpy as np
import pytest

from .conftest import build_checkpoint
from .tiny_configs import TINY


def _nbits_nodes(bundle, name="model.onnx"):
    import onnx

    model = onnx.load(str(bundle / name))
    return [n for n in model.graph.node if n.op_type == "MatMulNBits"], model


def _attr(node, key):
    return next(a.i for a in node.attribute if a.name == key)


def _initializers(model):
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _check_nbits_tensors(node, inits, bits: int, block: int) -> None:
    """B, scales and zero points of one MatMulNBits have the shapes and dtypes its attributes claim."""
    k, n = _attr(node, "K"), _attr(node, "N")
    n_blocks = -(-k // block)
    b, scales = inits[node.input[1]], inits[node.input[2]]
    assert b.dtype == np.uint8 and b.shape == (n, n_blocks, block * bits // 8), (node.name, b.shape)
    assert scales.dtype == np.float32 and scales.size == n * n_blocks  # fp32 activations in, fp32 scales


def _remeasured(bundle, source):
    from edge.bundle import read_manifest
    from export.onnx.verify import verify_bundle

    return verify_bundle(bundle, read_manifest(bundle), str(source))


@pytest.mark.parametrize(("quant", "bits"), [("int4", 4), ("int8", 8)])
def test_weight_only_quant_covers_every_linear_and_the_untied_lm_head(quant, bits, tiny_bundle, tiny_checkpoint):
    from export.quant.nbits import plan_for

    bundle = tiny_bundle("llama", quant)  # the tiny llama has tied embeddings
    nodes, model = _nbits_nodes(bundle)
    inits = _initializers(model)
    per_layer = 5  # q+k v o gate+up down (the fused llama graph packs q+k and gate+up)
    assert len(nodes) == 2 * per_layer + 1  # + lm_head
    plan = plan_for("llama", bits, block_size=16)
    eight = [n for n in nodes if _attr(n, "N") == 512 or plan.keeps(n.name)]  # lm_head (+ int4's sensitive ones)
    assert all(_attr(n, "bits") == 8 for n in eight)
    assert all(_attr(n, "bits") == bits and _attr(n, "block_size") == 16 for n in nodes if n not in eight)
    assert all(_attr(n, "accuracy_level") == plan.accuracy_level for n in nodes)
    for n in nodes:
        _check_nbits_tensors(n, inits, _attr(n, "bits"), _attr(n, "block_size"))
    weights = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    assert all(n.name.endswith(("_offset", f"_blocksum{plan.block_size}")) for n in weights)  # only offsets
    extra = sum(inits[n.input[1]].size for n in weights)  # offsets: one float per block, ones to sum blocks
    assert extra <= sum(_attr(n, "K") * _attr(n, "N") for n in nodes) / 8
    assert {i.name: i.type.tensor_type.elem_type for i in model.graph.input}["past_key_values.0.key"] == 1  # fp32
    report = _remeasured(bundle, tiny_checkpoint("llama"))
    assert report["passed"] and report["top1_agreement"] >= 0.9 and report["n_tokens"] >= 64
    assert report["decode_parity"]["agreement"] >= 0.9


def _bits_by_projection(nodes) -> dict[str, set[int]]:
    """Bits per projection across layers, keyed by the node's projection path (packed pairs as one)."""
    out: dict[str, set[int]] = {}
    for n in nodes:
        path = re.sub(r"^/(model/layers\.\d+/)?", "", n.name).rsplit("/MatMul", 1)[0]  # mlp/down_proj
        out.setdefault(path, set()).add(_attr(n, "bits"))
    return out


def test_int4_keeps_the_plans_sensitive_projections_at_8_bits(tiny_bundle):
    nodes, _ = _nbits_nodes(tiny_bundle("llama", "int4"))
    bits = _bits_by_projection(nodes)
    assert bits == {"self_attn/q_proj/k_proj": {4}, "self_attn/v_proj": {8}, "self_attn/o_proj": {8},
                    "mlp/gate_proj/up_proj": {4}, "mlp/down_proj": {8}, "lm_head": {8}}, bits


def test_keep_8bit_of_one_packed_projection_keeps_the_pair(tiny_checkpoint, tmp_path):
    """--keep-8bit q_proj matches the packed q+k MatMul (its name has /q_proj/): both go 8-bit."""
    import json

    from edge.bundle import read_manifest
    from tests.conftest import run_cli

    r = run_cli("export", "onnx", str(tiny_checkpoint("llama")), str(tmp_path / "b"), "--quant", "int4",
                "--block-size", "16", "--keep-8bit", "q_proj", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["attention"] == "fused"
    bits = _bits_by_projection(_nbits_nodes(tmp_path / "b")[0])
    assert bits["self_attn/q_proj/k_proj"] == {8} and bits["mlp/gate_proj/up_proj"] == {4}
    assert "q_proj" in read_manifest(tmp_path / "b").quant.keep_8bit


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_architectures_int4_plan_names_real_projections(name, tiny_bundle):
    """Each fragment a plan keeps at 8 bits matches a MatMul of that architecture's graph."""
    import onnx

    from export.onnx import get_arch
    from export.quant.nbits import plan_for

    arch = get_arch({"model_type": name})
    plan = plan_for(arch.name, 4)
    assert plan.block_size <= 32 and plan.block_size & (plan.block_size - 1) == 0
    names = [n.name for f in arch.files for n in onnx.load(str(tiny_bundle(name) / f)).graph.node
             if n.op_type == "MatMul"]
    for frag in plan.keep_8bit:
        assert any(f"/{frag}/" in n for n in names), (name, frag)


def test_fp16_bundle_has_fp16_weights_and_fp32_inputs(tiny_bundle, tiny_checkpoint):
    import onnx

    bundle = tiny_bundle("qwen2", "fp16")
    model = onnx.load(str(bundle / "model.onnx"))
    floats = {t.data_type for t in model.graph.initializer if t.data_type in (1, 10)}
    assert floats == {10}  # every float weight is fp16
    io = {v.name: v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]}
    assert io["logits"] == 1 and all(io[k] == 1 for k in io if k.startswith(("past_key_values", "present")))
    report = _remeasured(bundle, tiny_checkpoint("qwen2"))
    assert report["max_abs_logit_diff"] < 5e-3 and report["top1_agreement"] >= 0.95


def test_int4_miss_says_what_helps():
    from edge.errors import ParityError
    from export.onnx import parity
    from export.parity_result import LogitParity

    with pytest.raises(ParityError) as err:
        parity.check(LogitParity(33.9, 0.264, 72), "int4", "pytorch fp32 gguf source")
    msg = str(err.value)
    assert "smaller --block-size" in msg and "--quant int8" in msg and "--keep-8bit" in msg
    assert "larger --block-size" not in msg


def test_pack_ternary_layout_is_matmulnbits_2bit():
    from export.onnx.quantize import pack_ternary

    w = np.array([[0.5, -0.5], [0.0, 0.5], [-0.5, 0.0]] + [[0.0, 0.0]] * 13, dtype=np.float32)  # K=16, N=2
    packed, scales, zeros = pack_ternary(w, 16)
    assert packed.shape == (2, 1, 4) and scales.tolist() == [0.5, 0.5] and zeros.tolist() == [0xAA, 0xAA]
    # column 0 = (+1, 0, -1, 0...) -> codes (3, 2, 1, 2) low bits first
    assert packed[0, 0, 0] == 3 | (2 << 2) | (1 << 4) | (2 << 6)
    assert packed[1, 0, 0] == 1 | (3 << 2) | (2 << 4) | (2 << 6)


def test_ternary_export_of_a_ternary_checkpoint_matches_it(tmp_path, tiny_tokenizer_dir):
    from edge.bundle import read_manifest
    from export.onnx.export import export_onnx

    ckpt = build_checkpoint("bitnet", tmp_path / "ckpt", tiny_tokenizer_dir, ternary=True)
    export_onnx(ckpt, tmp_path / "b", quant="ternary", block_size=16)
    nodes, _ = _nbits_nodes(tmp_path / "b")
    assert sum(_attr(n, "bits") == 2 for n in nodes) == 14 and sum(_attr(n, "bits") == 8 for n in nodes) == 1
    assert read_manifest(tmp_path / "b").parity.min_top1 is not None  # a bound, not a report only
    report = _remeasured(tmp_path / "b", ckpt)
    # weights are exact; the remaining error is accuracy_level=4's int8 activations
    assert report["passed"] and report["top1_agreement"] >= 0.9 and report["max_abs_logit_diff"] < 0.05


def test_ternary_export_of_a_float_checkpoint_is_checked_against_the_ternarized_model(tmp_path, tiny_checkpoint):
    from edge.bundle import read_manifest
    from export.onnx.export import export_onnx

    src = tiny_checkpoint("bitnet")  # random float weights: ternarized on export
    export_onnx(src, tmp_path / "b", quant="ternary", block_size=16)
    parity = read_manifest(tmp_path / "b").parity
    assert "ternarized" in parity.reference and parity.min_top1 >= 0.85
    report = _remeasured(tmp_path / "b", src)  # verify ternarizes the source the same way
    assert report["passed"] and report["top1_agreement"] >= 0.85


def test_a_ternary_packing_bug_is_refused(tmp_path, tiny_checkpoint, monkeypatch):
    from edge.errors import ParityError
    from export.onnx import quantize
    from export.onnx.export import export_onnx

    real = quantize.pack_ternary

    def swapped_codes(w, block_size):  # +1 and -1 codes exchanged: every weight's sign flips
        packed, scales, zeros = real(-w, block_size)
        return packed, scales, zeros

    monkeypatch.setattr(quantize, "pack_ternary", swapped_codes)
    with pytest.raises(ParityError, match="ternary"):
        export_onnx(tiny_checkpoint("bitnet"), tmp_path / "b", quant="ternary", block_size=16)
    assert not (tmp_path / "b").exists()


def test_ort_mobile_writes_ort_files_and_required_operators(tmp_path, tiny_checkpoint):
    from edge.bundle import read_manifest
    from export.onnx.export import export_onnx

    m = export_onnx(tiny_checkpoint("qwen3"), tmp_path / "b", quant="int4", block_size=16, ort_mobile=True)
    assert "mobile/model.ort" in m.files and "mobile/required_operators.config" in m.files
    ops = (tmp_path / "b" / "mobile" / "required_operators.config").read_text()
    assert "MatMulNBits" in ops
    assert read_manifest(tmp_path / "b").ort_mobile is True
