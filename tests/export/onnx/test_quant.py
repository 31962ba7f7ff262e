"""Quantized exports of tiny models: MatMulNBits in the graph, untied lm_head, ternary packing."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import build_checkpoint


def _nbits_nodes(bundle, name="model.onnx"):
    import onnx

    model = onnx.load(str(bundle / name))
    return [n for n in model.graph.node if n.op_type == "MatMulNBits"], model


def _attr(node, key):
    return next(a.i for a in node.attribute if a.name == key)


@pytest.mark.parametrize(("quant", "bits"), [("int4", 4), ("int8", 8)])
def test_weight_only_quant_covers_every_linear_and_the_untied_lm_head(quant, bits, tiny_bundle):
    bundle = tiny_bundle("llama", quant)  # the tiny llama has tied embeddings
    nodes, model = _nbits_nodes(bundle)
    per_layer = 7  # q k v o gate up down
    assert len(nodes) == 2 * per_layer + 1  # + lm_head
    head = [n for n in nodes if _attr(n, "N") == 512]  # the vocab projection is quantized too, 8-bit
    assert len(head) == 1 and _attr(head[0], "bits") == 8
    assert all(_attr(n, "bits") == bits and _attr(n, "accuracy_level") == 4 for n in nodes if n not in head)
    assert not [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in
                {i.name for i in model.graph.initializer}]
    from edge.bundle import read_manifest

    p = read_manifest(bundle).parity
    assert p.top1_agreement >= 0.9 and p.n_tokens >= 64


def test_fp16_bundle_keeps_fp32_inputs_and_close_logits(tiny_bundle):
    from edge.bundle import read_manifest

    bundle = tiny_bundle("qwen2", "fp16")
    p = read_manifest(bundle).parity
    assert p.max_abs_logit_diff < 5e-3 and p.top1_agreement >= 0.95


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
    p = read_manifest(tmp_path / "b").parity
    # weights are exact; the remaining error is accuracy_level=4's int8 activations
    assert p.top1_agreement >= 0.9 and p.max_abs_logit_diff < 0.05


def test_ort_mobile_writes_ort_files_and_required_operators(tmp_path, tiny_checkpoint):
    from edge.bundle import read_manifest
    from export.onnx.export import export_onnx

    m = export_onnx(tiny_checkpoint("qwen3"), tmp_path / "b", quant="int4", block_size=16, ort_mobile=True)
    assert "mobile/model.ort" in m.files and "mobile/required_operators.config" in m.files
    ops = (tmp_path / "b" / "mobile" / "required_operators.config").read_text()
    assert "MatMulNBits" in ops
    assert read_manifest(tmp_path / "b").extra["ort_mobile"] is True
