"""Post-export weight quantization of the ONNX files in a bundle.

- int4 / int8: weight-only `MatMulNBits` (block-wise) as the architecture's `NBitsPlan` says
  (export/quant/nbits.py: block size, accuracy level, which tensors int4 keeps at 8 bits, the
  lm_head always; and the scheme: onnxruntime's quantizer, or export/quant/blockwise.py's
  searched scales or float block offsets, the latter an extra small MatMul per projection).
  accuracy_level=4 (int8 activations) is the default: without it 8-bit and 2-bit run slower
  than fp32 (FINDINGS.md). int8 defaults to blocks of 16, which its int8
  activation blocks need to keep top-1 agreement >= 0.95 (SmolLM2: 0.944 at 32, 0.958 at 16).
- ternary: BitNet-style `s·{-1,0,1}` weights (export/quant/ternary.py) packed by hand as 2-bit
  `MatMulNBits`, 4 values per byte, low bits first, zero point 2; the lm_head goes 8-bit.
- fp16: every float initializer and op in fp16, inputs/outputs kept fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.errors import ExportError
from export.quant.blockwise import Blocks, block_sum_matrix, quantize_blocks
from export.quant.nbits import NBitsPlan, plan_for

log = logging.getLogger(__name__)
QUANTS = ("fp32", "fp16", "int8", "int4", "ternary")
DEFAULT_BLOCK_SIZE = {"int8": 16, "int4": 32, "ternary": 32}
ACCURACY_LEVEL = 4
MAX_PROTO_BYTES = 1_800_000_000  # protobuf caps a model at 2 GB: larger ones get external data


def load_model(path: Path):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError/ValueError/OSError for a non-model file
        raise ExportError(f"{path} is not an ONNX model ({type(exc).__name__}: {exc})") from None


def save_model(model, path: Path) -> None:
    import onnx

    for stale in path.parent.glob(path.name + "*data"):
        stale.unlink()
    big = model.ByteSize() > MAX_PROTO_BYTES
    onnx.save_model(model, str(path), save_as_external_data=big, all_tensors_to_one_file=True,
                    location=path.name + ".data" if big else None)


def quantize_file(path: Path, quant: str, block_size: int, vocab_size: int, plan: NBitsPlan | None = None) -> None:
    """Quantize the ONNX file at `path` in place (int4/int8 as `plan` says; default: the generic plan)."""
    steps: dict[str, Callable] = {
        "fp32": lambda m: m,
        "fp16": _fp16,
        "int8": lambda m: _weight_only(m, plan or plan_for("", 8, block_size=block_size), vocab_size),
        "int4": lambda m: _weight_only(m, plan or plan_for("", 4, block_size=block_size), vocab_size),
        "ternary": lambda m: _nbits(_ternary(m, block_size, vocab_size), NBitsPlan(8, block_size)),
    }
    if quant not in steps:
        raise ExportError(f"unknown quantization {quant!r}; choose one of {', '.join(QUANTS)}")
    if quant == "fp32":
        return
    save_model(steps[quant](load_model(path)), path)


def _fp16(model):
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)


def _head_nodes(model, vocab_size: int) -> list[str]:
    """Names of the MatMuls projecting onto the vocabulary (the lm_head)."""
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    return [n.name for n in model.graph.node
            if n.op_type == "MatMul" and len(shapes.get(n.input[1], ())) == 2 and shapes[n.input[1]][1] == vocab_size]


def _weight_only(model, plan: NBitsPlan, vocab_size: int):
    """int4/int8 by the plan's scheme: onnxruntime's quantizer ("absmax") or ours (blockwise.py)."""
    if plan.scheme == "absmax":
        return _int4(model, plan, vocab_size) if plan.bits == 4 else _nbits(model, plan)
    return _blockwise(model, plan, vocab_size)


def _int4(model, plan: NBitsPlan, vocab_size: int):
    """4 bits except the lm_head (SmolLM2 top-1 0.75 -> 0.83 with an 8-bit head) and the plan's
    sensitive projections, which a second pass gives 8 bits at int8's block size."""
    keep = [*_head_nodes(model, vocab_size), *(n.name for n in model.graph.node
                                                if n.op_type == "MatMul" and plan.keeps(n.name))]
    model = _nbits(model, plan, exclude=keep)
    return _nbits(model, NBitsPlan(8, min(plan.block_size, plan_for("", 8).block_size), plan.accuracy_level))


def _nbits(model, plan: NBitsPlan, exclude: list[str] | None = None):
    """Weight-only MatMulNBits of every float MatMul weight not in `exclude`."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(model, bits=plan.bits, block_size=plan.block_size, is_symmetric=plan.symmetric,
                                     accuracy_level=plan.accuracy_level, nodes_to_exclude=exclude or [])
    quantizer.process()
    return quantizer.model.model


def _ternary(model, block_size: int, vocab_size: int):
    """Replace each MatMul with a 2-D float weight (except the lm_head) by a 2-bit MatMulNBits."""
    def pack(node, w):
        if w.shape[1] == vocab_size:
            return None
        packed, scales, zeros = pack_ternary(w, block_size)
        return Blocks(packed, scales, zeros), 2, block_size

    n_packed = _replace_matmuls(model, pack, ACCURACY_LEVEL)
    if n_packed == 0:
        raise ExportError("no MatMul weights to ternarize in the exported graph")
    log.info("ternarized %d MatMul weights", n_packed)
    return model


def _blockwise(model, plan: NBitsPlan, vocab_size: int):
    """`plan.bits` by export/quant/blockwise.py (searched zero points, or float block offsets as
    `plan.scheme` says); the lm_head and the plan's kept tensors at 8 bits in blocks of at most 16,
    searched: at 8 bits an offset costs more (size, an extra MatMul) than it saves."""
    keep = set(_head_nodes(model, vocab_size))
    block8 = min(plan.block_size, plan_for("", 8).block_size)

    def pack(node, w):
        if plan.bits == 4 and (node.name in keep or plan.keeps(node.name)):
            return quantize_blocks(w, 8, block8), 8, block8
        return quantize_blocks(w, plan.bits, plan.block_size, offset=plan.scheme == "offset"), plan.bits, plan.block_size

    _replace_matmuls(model, pack, plan.accuracy_level)
    return model


class _Rewriter:
    """Swaps MatMuls for MatMulNBits in a graph and its subgraphs (a merged decoder's If branches
    share the top graph's weights): new tensors go to the top graph, each weight packed once."""

    def __init__(self, model, pack: Callable, accuracy_level: int) -> None:
        from onnx import numpy_helper

        self.top, self.pack, self.level = model.graph, pack, accuracy_level
        self.weights = {t.name: t for t in model.graph.initializer}
        self.arrays = numpy_helper.to_array
        self.packed: dict[str, tuple] = {}  # weight name -> (tensor names, bits, block, K, N)
        self.n = 0

    def _add(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        if name not in self.weights:
            self.top.initializer.append(numpy_helper.from_array(array, name))
            self.weights[name] = self.top.initializer[-1]
        return name

    def _tensors(self, node, w: np.ndarray):
        name = node.input[1]
        if name not in self.packed:
            got = self.pack(node, w)
            if got is None:
                return None
            blocks, bits, block = got
            base = name.replace(".", "_").replace(":", "_") + f"_Q{bits}"
            names = [self._add(base + sfx, arr) for sfx, arr in zip(("", "_scales", "_zp"), blocks[:3], strict=True)]
            off = self._add(base + "_offsets", blocks.offsets) if blocks.offsets is not None else None
            self.packed[name] = (names, off, bits, block, *w.shape)
        return self.packed[name]

    def rewrite(self, graph) -> None:
        from onnx import helper

        new_nodes, sums = [], {}
        for node in graph.node:
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    self.rewrite(sub)
            weight = self.weights.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
            w = self.arrays(weight) if weight is not None else None
            got = self._tensors(node, w) if w is not None and w.ndim == 2 and w.dtype == np.float32 else None
            if got is None:
                new_nodes.append(node)
                continue
            names, off, bits, block, k, n = got
            out = node.output[0] if off is None else node.output[0] + "_nbits"
            new_nodes.append(helper.make_node(
                "MatMulNBits", [node.input[0], *names], [out], name=(node.name or names[0]) + f"_Q{bits}",
                domain="com.microsoft", K=k, N=n, bits=bits, block_size=block, accuracy_level=self.level))
            if off is not None:  # y = nbits(x) + blocksum(x) @ offsets; one block sum per input
                key = (node.input[0], block)
                if key not in sums:
                    sums[key] = f"{node.input[0]}_blocksum{block}"
                    ones = self._add(f"blocksum_{k}_{block}", block_sum_matrix(k, block))
                    new_nodes.append(helper.make_node("MatMul", [node.input[0], ones], [sums[key]],
                                                      name=sums[key]))
                new_nodes.append(helper.make_node("MatMul", [sums[key], off], [out + "_offset"],
                                                  name=out + "_offset"))
                new_nodes.append(helper.make_node("Add", [out, out + "_offset"], list(node.output),
                                                  name=out + "_add"))
            self.n += 1
        del graph.node[:]
        graph.node.extend(new_nodes)


def _used_inputs(graph) -> set[str]:
    used = set()
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                used |= _used_inputs(sub)
    return used


def _replace_matmuls(model, pack: Callable, accuracy_level: int) -> int:
    """Swap each MatMul with a 2-D float32 initializer weight for the MatMulNBits `pack(node, w)`
    returns as (Blocks, bits, block_size); None keeps the node. Returns how many were swapped."""
    from onnx import helper

    rewriter = _Rewriter(model, pack, accuracy_level)
    rewriter.rewrite(model.graph)
    used = _used_inputs(model.graph) | {o.name for o in model.graph.output}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return rewriter.n


def pack_ternary(w: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MatMulNBits bits=2 tensors for a [K, N] weight: (B [N, blocks, bs/4] u8, scales, zero points)."""
    from export.quant.ternary import ternarize_or_keep

    if block_size % 16 or block_size < 16:
        raise ExportError(f"block size must be a multiple of 16 (>= 16), got {block_size}")
    k, n = w.shape
    values, scale = ternarize_or_keep(w)
    n_blocks = -(-k // block_size)
    q = np.full((n, n_blocks * block_size), 2, dtype=np.uint8)  # padding = zero point = weight 0
    q[:, :k] = (values.T + 2).astype(np.uint8)
    q = q.reshape(n, n_blocks, block_size // 4, 4)
    packed = (q[..., 0] | (q[..., 1] << 2) | (q[..., 2] << 4) | (q[..., 3] << 6)).astype(np.uint8)
    scales = np.full(n * n_blocks, scale, dtype=np.float32)
    zeros = np.full(n * (-(-n_blocks // 4)), 0xAA, dtype=np.uint8)  # zero point 2 in every 2-bit slot
    return packed, scales, zeros
