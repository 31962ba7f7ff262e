"""The ONNX loop on a fused-attention graph (GroupQueryAttention, symbolic head size, no position_ids).

onnxruntime-genai's model builder writes SmolLM2 as such a graph (343 nodes instead of the
optimum export's 3,453); the loop must run it unchanged. The graph here is a tiny hand-built one
with the same interface, so the test needs no builder and no download.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.backends.onnxruntime import CausalLM, config_head_dim
from edge.errors import ModelFormatError
from edge.options import RuntimeOptions

pytest.importorskip("onnxruntime")

VOCAB, HIDDEN, HEADS, KV_HEADS, LAYERS = 40, 16, 2, 1, 2
HEAD = HIDDEN // HEADS


def _gqa_graph(path: Path) -> None:
    """input_ids, attention_mask, past_key_values.{i}.key|value [B, kv, past, 'kv_cache_dim'] -> logits, present."""
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(0)
    weights, nodes = {}, []

    def w(name: str, *shape: int) -> str:
        weights[name] = numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.5, name)
        return name

    nodes += [helper.make_node("Gather", [w("embed", VOCAB, HIDDEN), "input_ids"], ["x0"]),
              helper.make_node("ReduceSum", ["attention_mask", "one"], ["total_1"], keepdims=0),
              helper.make_node("Sub", ["total_1", "one"], ["seqlens64"]),
              helper.make_node("Cast", ["seqlens64"], ["seqlens_k"], to=TensorProto.INT32),
              helper.make_node("Shape", ["attention_mask"], ["mask_shape"]),
              helper.make_node("Gather", ["mask_shape", "one_scalar"], ["total64"], axis=0),
              helper.make_node("Cast", ["total64"], ["total_len"], to=TensorProto.INT32)]
    weights["one"] = numpy_helper.from_array(np.array([1], dtype=np.int64), "one")
    weights["one_scalar"] = numpy_helper.from_array(np.array(1, dtype=np.int64), "one_scalar")
    x, past, present = "x0", [], []
    for i in range(LAYERS):
        q, k, v, a, o = (f"{t}{i}" for t in "qkvao")
        nodes += [helper.make_node("MatMul", [x, w(f"wq{i}", HIDDEN, HIDDEN)], [q]),
                  helper.make_node("MatMul", [x, w(f"wk{i}", HIDDEN, KV_HEADS * HEAD)], [k]),
                  helper.make_node("MatMul", [x, w(f"wv{i}", HIDDEN, KV_HEADS * HEAD)], [v]),
                  helper.make_node("GroupQueryAttention",
                                   [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", "seqlens_k",
                                    "total_len"], [a, f"present.{i}.key", f"present.{i}.value"],
                                   domain="com.microsoft", num_heads=HEADS, kv_num_heads=KV_HEADS),
                  helper.make_node("MatMul", [a, w(f"wo{i}", HIDDEN, HIDDEN)], [o]),
                  helper.make_node("Add", [x, o], [f"x{i + 1}"])]
        x = f"x{i + 1}"
        for kind in ("key", "value"):
            past.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", TensorProto.FLOAT,
                                                      ["batch_size", KV_HEADS, "past_sequence_length", "kv_cache_dim"]))
            present.append(helper.make_tensor_value_info(f"present.{i}.{kind}", TensorProto.FLOAT,
                                                         ["batch_size", KV_HEADS, "total_sequence_length",
                                                          "kv_cache_dim"]))
    nodes.append(helper.make_node("MatMul", [x, w("lm_head", HIDDEN, VOCAB)], ["logits"]))
    graph = helper.make_graph(
        nodes, "tiny-gqa",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]),
         *past],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", VOCAB]),
         *present],
        initializer=list(weights.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    save(model, str(path))


@pytest.fixture(scope="module")
def gqa_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("gqa")
    _gqa_graph(d / "model.onnx")
    (d / "config.json").write_text(json.dumps({"hidden_size": HIDDEN, "num_attention_heads": HEADS}))
    return d


def _plain_greedy(path: Path, ids: list[int], n: int) -> list[int]:
    """Greedy by the book on the same graph: numpy past of head size HEAD, every present fed back."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    past = {f"past_key_values.{i}.{k}": np.zeros((1, KV_HEADS, 0, HEAD), np.float32)
            for i in range(LAYERS) for k in ("key", "value")}
    new, out, total = list(ids), [], 0
    for _ in range(n):
        total += len(new)
        res = dict(zip(names, sess.run(names, {"input_ids": np.array([new], dtype=np.int64),
                                               "attention_mask": np.ones((1, total), dtype=np.int64), **past}),
                       strict=True))
        past = {p: res["present." + p.removeprefix("past_key_values.")] for p in past}
        new = [int(np.argmax(res["logits"][0, -1]))]
        out.append(new[0])
    return out


def test_greedy_on_a_fused_attention_graph_equals_the_plain_loop(gqa_dir: Path) -> None:
    model = CausalLM(gqa_dir, RuntimeOptions(n_threads=1))
    ids = [3, 17, 5, 29, 11]
    logits, got = model.start(ids), []
    for _ in range(12):
        got.append(int(np.argmax(logits)))
        logits = model.step(got[-1])
    assert got == _plain_greedy(gqa_dir / "model.onnx", ids, 12)
    assert model.start(ids).shape == (VOCAB,)  # the same prompt again comes from the prefix cache


def test_a_symbolic_head_size_without_a_config_is_a_clear_error(gqa_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes((gqa_dir / "model.onnx").read_bytes())
    assert config_head_dim(tmp_path) is None
    with pytest.raises(ModelFormatError, match="symbolic head size"):
        CausalLM(tmp_path, RuntimeOptions(n_threads=1))


def test_an_onnxruntime_genai_folder_names_the_head_size(gqa_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes((gqa_dir / "model.onnx").read_bytes())
    (tmp_path / "genai_config.json").write_text(json.dumps({"model": {"decoder": {"head_size": HEAD}}}))
    assert config_head_dim(tmp_path) == HEAD
    ids = [3, 17, 5]
    first = int(np.argmax(CausalLM(tmp_path, RuntimeOptions(n_threads=1)).start(ids)))
    assert first == _plain_greedy(gqa_dir / "model.onnx", ids, 1)[0]
