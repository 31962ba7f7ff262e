"""Block-wise int4/int8 weights (export/quant/blockwise.py) and their MatMulNBits graphs."""

from __future__ import annotations

import numpy as np
import pytest

from export.quant.blockwise import dequantize_blocks, quantize_blocks

K, N = 72, 24  # K not a multiple of the block: the last block is partial


def _q41_weight(rng, k: int, n: int, block: int = 32) -> np.ndarray:
    """A weight already on a Q4_1 grid (d * q + m per block of 32 along K), as a dequantized GGUF."""
    q = rng.integers(0, 16, (n, k // block, block))
    q[..., 0], q[..., 1] = 0, 15  # Q4_1 codes span the whole range in every block
    d = rng.uniform(0.01, 0.05, (n, k // block, 1))
    m = rng.uniform(-0.4, 0.1, (n, k // block, 1))
    return (d * q + m).reshape(n, k).T.astype(np.float32)


def _naive_error(w: np.ndarray, bits: int, block: int) -> np.ndarray:
    """Per-block squared error of plain min/max rounding with an integer zero point."""
    b = np.pad(w.T, ((0, 0), (0, -K % block))).reshape(N, -1, block)
    lo, hi = b.min(-1, keepdims=True), b.max(-1, keepdims=True)
    s = (hi - lo) / (2**bits - 1)
    z = np.round(-lo / s)
    return (((np.clip(np.round(b / s) + z, 0, 2**bits - 1) - z) * s - b) ** 2).sum(-1)


@pytest.mark.parametrize("offset", [False, True])
@pytest.mark.parametrize(("bits", "block"), [(4, 16), (4, 32), (8, 16)])
def test_round_trip_shapes_and_error(bits, block, offset):
    w = np.random.default_rng(0).standard_normal((K, N)).astype(np.float32)
    blocks = quantize_blocks(w, bits, block, offset=offset)
    n_blocks = -(-K // block)
    assert blocks.packed.shape == (N, n_blocks, block * bits // 8) and blocks.packed.dtype == np.uint8
    assert blocks.scales.shape == (N * n_blocks,) and blocks.scales.dtype == np.float32
    assert blocks.zero_points.size == N * (n_blocks if bits == 8 else -(-n_blocks // 2))
    err = dequantize_blocks(blocks, bits, K) - w
    if offset:  # min/max scale and a float minimum: nothing clips, every weight within half a step
        step = np.repeat(blocks.scales.reshape(N, n_blocks), block, axis=1)[:, :K].T
        assert (np.abs(err) <= 0.5 * step + 1e-6).all()
    else:  # the searched scale never does worse than plain rounding, block by block
        padded = np.pad(err.T, ((0, 0), (0, -K % block))).reshape(N, n_blocks, block)
        assert ((padded**2).sum(-1) <= _naive_error(w, bits, block) + 1e-6).all()


def test_offset_scheme_is_exact_on_a_q4_1_grid_and_the_search_is_not():
    """A dequantized Q4_1 GGUF re-quantized to int4 loses nothing with float block offsets."""
    w = _q41_weight(np.random.default_rng(1), 64, N)
    exact = dequantize_blocks(quantize_blocks(w, 4, 32, offset=True), 4, 64)
    np.testing.assert_allclose(exact, w, atol=1e-6)
    searched = dequantize_blocks(quantize_blocks(w, 4, 32), 4, 64)
    assert np.abs(searched - w).max() > 1e-3  # integer zero points cannot hold a float minimum


def _graph(weights: dict[str, np.ndarray], with_if: bool):
    """x -> MatMul(W0) and MatMul(W1) on the same input, summed; optionally inside an If's branches."""
    from onnx import TensorProto, helper, numpy_helper

    def body(tag: str):
        return [helper.make_node("MatMul", ["x", name], [f"{tag}_{name}_out"], name=f"/{tag}/{name}/MatMul")
                for name in weights] + [
            helper.make_node("Add", [f"{tag}_{name}_out" for name in weights], [f"{tag}y"], name=f"/{tag}/add")]

    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    if with_if:
        branch = [helper.make_graph(body(t), t, [], [helper.make_tensor_value_info(f"{t}y", TensorProto.FLOAT, None)])
                  for t in ("then", "else")]
        nodes = [helper.make_node("If", ["flag"], ["y"], then_branch=branch[0], else_branch=branch[1])]
        inputs = [helper.make_tensor_value_info("flag", TensorProto.BOOL, [])]
    else:
        nodes = body("")
        nodes[-1].output[0] = "y"
        inputs = []
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, K])
    graph = helper.make_graph(nodes, "g", [x, *inputs], [out],
                              [numpy_helper.from_array(w, name) for name, w in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    feeds = {"x": x} | ({"flag": np.array(True)} if any(n.op_type == "If" for n in model.graph.node) else {})
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


@pytest.mark.parametrize("with_if", [False, True])
@pytest.mark.parametrize("scheme", ["search", "offset"])
def test_matmulnbits_graph_computes_with_the_dequantized_weights(scheme, with_if):
    """onnxruntime's MatMulNBits (fp32 activations) times x equals x @ dequantized W, in subgraphs too."""
    from export.onnx.quantize import _blockwise
    from export.quant.nbits import FP32_ACTIVATIONS, NBitsPlan

    rng = np.random.default_rng(2)
    weights = {"W0": rng.standard_normal((K, N)).astype(np.float32),
               "W1": rng.standard_normal((K, N)).astype(np.float32)}
    model = _blockwise(_graph(weights, with_if), NBitsPlan(4, block_size=16, accuracy_level=FP32_ACTIVATIONS,
                                                           scheme=scheme), vocab_size=-1)
    names = {t.name for t in model.graph.initializer}
    assert not names & set(weights)  # the float weights are gone, each packed once
    assert sum(name.endswith("_Q4") for name in names) == 2
    x = rng.standard_normal((1, 3, K)).astype(np.float32)
    want = sum(x @ dequantize_blocks(quantize_blocks(w, 4, 16, offset=scheme == "offset"), 4, K)
               for w in weights.values())
    np.testing.assert_allclose(_run(model, x), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bits", [4, 8])
def test_a_constant_block_is_its_offset_alone(bits):
    """A zero padding row must not become -mid * scale + mid * scale: with int8 activations
    (accuracy_level 4) the two large halves no longer cancel."""
    w = np.random.default_rng(3).standard_normal((64, 4)).astype(np.float32)
    w[:, 1], w[16:32, 2] = 0.0, 0.25
    blocks = quantize_blocks(w, bits, 16, offset=True)
    codes_only = dequantize_blocks(blocks._replace(offsets=None), bits, 64)
    assert (codes_only[:, 1] == 0).all() and (codes_only[16:32, 2] == 0).all()
    assert blocks.offsets[:, 1].tolist() == [0.0] * 4 and blocks.offsets[1, 2] == 0.25
    np.testing.assert_allclose(dequantize_blocks(blocks, bits, 64), w, atol=0.5 * blocks.scales.max())
