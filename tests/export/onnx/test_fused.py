"""The fused-attention llama graph (export/onnx/fused_llama.py) against the traced one and transformers.

Tiny random llamas with 4 query heads over 2 K/V heads, tied (the registry's tiny llama) and untied
embeddings; the export's own parity checks run on every bundle made here.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edge.bundle import read_manifest
from edge.errors import UnsupportedFeatureError
from export import decode
from export.onnx.verify import verify_bundle

LLAMAS = ["llama", "llama-untied"]


def _graph(bundle):
    import onnx

    return onnx.load(str(bundle / "model.onnx"), load_external_data=False).graph


def _ops(bundle) -> list[str]:
    return [n.op_type for n in _graph(bundle).node]


@pytest.mark.parametrize("name", LLAMAS)
def test_llama_exports_fused_by_default_with_the_traced_io_names(name, tiny_bundle):
    fused, traced = tiny_bundle(name), tiny_bundle(name, attention="traced")
    assert read_manifest(fused).attention == "fused" and read_manifest(traced).attention == "traced"
    ops = _ops(fused)
    assert ops.count("GroupQueryAttention") == 2 and ops.count("SkipSimplifiedLayerNormalization") == 4
    assert ops.count("MatMul") == 2 * 5 + 1 and ops.count("Split") == 2 * 2  # q+k and gate+up packed
    assert len(ops) * 3 < len(_ops(traced))
    inputs = [i.name for i in _graph(fused).input]
    assert inputs == [i.name for i in _graph(traced).input if i.name != "position_ids"]
    assert [o.name for o in _graph(fused).output] == [o.name for o in _graph(traced).output]


@pytest.mark.parametrize("quant", ["fp32", "fp16", "int8", "int4"])
@pytest.mark.parametrize("name", LLAMAS)
def test_fused_bundles_pass_parity_and_verify(name, quant, tiny_bundle):
    bundle = tiny_bundle(name, quant)
    m = read_manifest(bundle)
    assert m.attention == "fused" and m.parity is not None and m.decode_parity.passed
    assert verify_bundle(bundle, m)["passed"]
    if quant in ("int8", "int4"):  # every projection and the head packed, as in a traced bundle
        graph = _graph(bundle)
        nbits = {n.name: next(a.i for a in n.attribute if a.name == "bits")
                 for n in graph.node if n.op_type == "MatMulNBits"}
        weights = {t.name for t in graph.initializer if len(t.dims) == 2 and t.data_type == 1}
        float_projections = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights
                             and "blocksum" not in n.input[1] and "offsets" not in n.input[1]]
        assert len(nbits) == 2 * 5 + 1 and not float_projections  # (int4 offsets: small extra MatMuls)
        if quant == "int4":  # the llama plan's sensitive projections and the lm_head stay at 8 bits
            assert {b for n, b in nbits.items() if "/v_proj/" in n or "/lm_head/" in n} == {8}
            assert {b for n, b in nbits.items() if "/q_proj/" in n} == {4}


def test_packed_projections_split_back_into_the_modules_outputs(tiny_bundle):
    """q+k and gate+up read one [in, out_a + out_b] weight; the Split gives each module's width."""
    from onnx import numpy_helper

    graph = _graph(tiny_bundle("llama-untied"))
    inits = {t.name: t for t in graph.initializer}
    for pair, widths in (("self_attn/q_proj/k_proj", [64, 2 * 16]), ("mlp/gate_proj/up_proj", [128, 128])):
        matmul = next(n for n in graph.node if n.name == f"/model/layers.0/{pair}/MatMul")
        assert list(inits[matmul.input[1]].dims) == [64, sum(widths)]
        split = next(n for n in graph.node if n.op_type == "Split" and n.input[0] == matmul.output[0])
        assert numpy_helper.to_array(inits[split.input[1]]).tolist() == widths and len(split.output) == 2


def _greedy(model, prompt: list[int], n: int) -> list[int]:
    logits, out = model.start(prompt), []
    for _ in range(n):
        out.append(int(np.argmax(logits)))
        logits = model.step(out[-1])
    return out


@pytest.mark.parametrize("name", LLAMAS)
def test_fused_greedy_equals_traced_and_transformers(name, tiny_bundle, tiny_checkpoint):
    import transformers

    from edge.backends.onnxruntime import load_model

    torch_model = transformers.AutoModelForCausalLM.from_pretrained(tiny_checkpoint(name), dtype="float32").eval()
    fused = load_model(tiny_bundle(name), encoder_decoder=False)
    traced = load_model(tiny_bundle(name, attention="traced"), encoder_decoder=False)
    prompts = [[5, 17, 300, 42], [9] * 3 + list(range(20, 60))]
    for ref in decode.torch_paths(torch_model, prompts, 24):
        assert _greedy(fused, list(ref.prompt), 24) == _greedy(traced, list(ref.prompt), 24) == list(ref.tokens)


def test_left_padded_batch_is_moved_to_right_padding_for_fused_attention(tiny_bundle, tiny_checkpoint):
    """CausalLM.forward with a left-padded batch and cached steps: the rows as each runs alone."""
    from edge.backends.onnxruntime import load_model

    model = load_model(tiny_bundle("llama-untied"), encoder_decoder=False)
    rng = np.random.default_rng(1)
    ids, mask = rng.integers(10, 500, size=(2, 12)), np.ones((2, 12), dtype=np.int64)
    ids[1, :4], mask[1, :4] = 0, 0
    logits, past = model.forward(ids, mask)
    alone = [model.teacher_forced(ids[0].tolist()), model.teacher_forced(ids[1, 4:].tolist())]
    assert np.abs(logits[0] - alone[0]).max() <= 1e-4 and np.abs(logits[1, 4:] - alone[1]).max() <= 1e-4
    nxt = logits[:, -1].argmax(-1)[:, None]
    mask = np.concatenate([mask, np.ones((2, 1), np.int64)], 1)
    step, _ = model.forward(nxt, mask, past)
    for row, start in ((0, 0), (1, 4)):
        full = model.teacher_forced([*ids[row, start:].tolist(), int(nxt[row, 0])])
        assert np.abs(step[row, -1] - full[-1]).max() <= 1e-4


def test_unsupported_rope_scaling_is_traced_with_a_note_or_refused(tiny_checkpoint, tmp_path, caplog):
    from export.onnx.export import export_onnx

    src = tiny_checkpoint("llama-dynamic-rope")
    with caplog.at_level(logging.WARNING, logger="export.onnx.export"):
        m = export_onnx(src, tmp_path / "auto", block_size=16)
    assert m.attention == "traced" and "rope scaling 'dynamic'" in caplog.text
    with pytest.raises(UnsupportedFeatureError, match="--attention traced"):
        export_onnx(src, tmp_path / "fused", attention="fused")
    assert not (tmp_path / "fused").exists()


def test_fused_attention_for_an_architecture_without_a_writer_is_refused(tiny_checkpoint, tmp_path):
    from export.onnx.export import export_onnx

    with pytest.raises(UnsupportedFeatureError, match="qwen2 has no fused-attention graph writer"):
        export_onnx(tiny_checkpoint("qwen2"), tmp_path / "b", attention="fused")
    assert not (tmp_path / "b").exists()


def test_cli_attention_option_is_recorded(tiny_checkpoint, tmp_path):
    import json

    from tests.conftest import run_cli

    src = str(tiny_checkpoint("llama"))
    for flag, expected in (([], "fused"), (["--attention", "traced"], "traced")):
        r = run_cli("export", "onnx", src, str(tmp_path / expected), "--json", *flag)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["attention"] == expected == read_manifest(tmp_path / expected).attention
