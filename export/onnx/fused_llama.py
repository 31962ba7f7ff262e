"""Fused-attention model.onnx for the llama family, written node by node from the torch weights.

One GroupQueryAttention per layer (rotary inside, positions from the attention mask), RMS norms as
SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization, SwiGLU, plain fp32 MatMuls (so
`quantize.py` turns them into MatMulNBits as it does traced graphs): five per layer, q+k and gate+up
each one MatMul and a Split. The I/O names are the traced bundle's: input_ids, attention_mask,
past_key_values.{i}.key|value -> logits, present.{i}.key|value; there is no position_ids input. GQA
reads each row's length from the mask as right padding; `edge.backends.onnxruntime.CausalLM.forward`
shifts a left-padded prompt before it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.backends.onnxruntime import PADDING_KEY
from edge.errors import UnsupportedFeatureError

MS = "com.microsoft"
OPSET = 17
# rope types whose cos/sin depend on the position only (transformers' init functions give them)
STATIC_ROPE = ("default", "linear", "llama3", "yarn")


def check_supported(config: Any) -> None:
    """UnsupportedFeatureError naming what the fused graph cannot express (the traced export can)."""
    scaling = getattr(config, "rope_scaling", None) or {}
    rope = scaling.get("rope_type", scaling.get("type", "default"))
    problems = [f"rope scaling {rope!r} (fused graphs take {', '.join(STATIC_ROPE)})"] if rope not in STATIC_ROPE else []
    if getattr(config, "hidden_act", "silu") != "silu":
        problems.append(f"activation {config.hidden_act!r} (fused graphs take silu)")
    problems += [f"{flag}=True" for flag in ("attention_bias", "mlp_bias") if getattr(config, flag, False)]
    if problems:
        raise UnsupportedFeatureError(f"fused attention cannot express {'; '.join(problems)}: "
                                      "export with --attention traced")


class _Graph:
    """The nodes and initializers written so far; `op` returns the new node's output names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.weights: list[Any] = []

    def const(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op: str, inputs: list[str], name: str, outputs: list[str] | None = None, domain: str = "",
           **attrs: Any) -> list[str]:
        from onnx import helper

        outputs = outputs or [f"{name}/output"]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))
        return outputs


def _weight(module: Any) -> np.ndarray:
    return module.weight.detach().float().numpy()


def _linear(g: _Graph, x: str, module: Any, name: str) -> str:
    """x @ W.T as a MatMul on a [in, out] initializer: the form quantize.py packs into MatMulNBits."""
    w = g.const(f"{name.strip('/').replace('/', '.')}.weight", _weight(module).T)
    return g.op("MatMul", [x, w], f"{name}/MatMul")[0]


def _packed_linear(g: _Graph, x: str, modules: dict[str, Any], pre: str) -> list[str]:
    """x @ W.T for modules reading the same x, as one MatMul on their weights side by side then a
    Split: decoding one token is per-op overhead, so one larger MatMul(NBits) beats two. The node
    is named after every module (`{pre}/q_proj/k_proj/MatMul`) so `/q_proj/`-style rules match it."""
    name = f"{pre}/{'/'.join(modules)}"
    key, ws = name.strip("/").replace("/", "."), [_weight(m).T for m in modules.values()]
    y = g.op("MatMul", [x, g.const(f"{key}.weight", np.concatenate(ws, axis=1))], f"{name}/MatMul")[0]
    sizes = g.const(f"{key}.split", np.array([w.shape[1] for w in ws], np.int64))
    outputs = [f"{name}/Split/output_{j}" for j in range(len(ws))]
    return g.op("Split", [y, sizes], f"{name}/Split", outputs=outputs, axis=-1)


def rotary_caches(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin [max_positions, head_dim / 2] from the model's own rotary embedding (its scaling and
    attention factor included), so the graph rotates exactly as transformers does."""
    import torch

    cfg = model.config
    n = int(cfg.max_position_embeddings)
    positions = torch.arange(n, dtype=torch.int64)[None]
    with torch.no_grad():
        cos, sin = model.model.rotary_emb(torch.zeros(1, dtype=torch.float32), positions)
    half = cos.shape[-1] // 2
    return cos[0, :, :half].numpy().astype(np.float32), sin[0, :, :half].numpy().astype(np.float32)


def _mask_lengths(g: _Graph) -> tuple[str, str]:
    """seqlens_k (tokens per row - 1, int32 [B]) and total_sequence_length (int32 scalar) from the mask."""
    from onnx import TensorProto

    total = g.op("ReduceSum", ["attention_mask", g.const("axis_1", np.array([1], np.int64))], "/mask/ReduceSum",
                 keepdims=0)[0]
    less = g.op("Sub", [total, g.const("one_i64", np.array(1, np.int64))], "/mask/Sub")[0]
    seqlens = g.op("Cast", [less], "/mask/seqlens_k", to=TensorProto.INT32)[0]
    shape = g.op("Shape", ["attention_mask"], "/mask/Shape")[0]
    width = g.op("Gather", [shape, g.const("index_1", np.array(1, np.int64))], "/mask/Gather", axis=0)[0]
    return seqlens, g.op("Cast", [width], "/mask/total_sequence_length", to=TensorProto.INT32)[0]


def _attention(g: _Graph, x: str, attn: Any, i: int, cfg: Any, lengths: tuple[str, str]) -> str:
    pre = f"/model/layers.{i}/self_attn"
    # v stays its own MatMul: the int4 plan keeps v_proj at 8 bits and q/k at 4 (nbits.SENSITIVE)
    q, k = _packed_linear(g, x, {"q_proj": attn.q_proj, "k_proj": attn.k_proj}, pre)
    v = _linear(g, x, attn.v_proj, f"{pre}/v_proj")
    out = g.op("GroupQueryAttention",
               [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", *lengths, "cos_cache", "sin_cache"],
               f"{pre}/GroupQueryAttention", outputs=[f"{pre}/attn", f"present.{i}.key", f"present.{i}.value"],
               domain=MS, num_heads=int(cfg.num_attention_heads), kv_num_heads=_kv_heads(cfg), do_rotary=1,
               rotary_interleaved=0, scale=float(attn.scaling))[0]
    return _linear(g, out, attn.o_proj, f"{pre}/o_proj")


def _mlp(g: _Graph, x: str, mlp: Any, i: int) -> str:
    pre = f"/model/layers.{i}/mlp"
    gate, up = _packed_linear(g, x, {"gate_proj": mlp.gate_proj, "up_proj": mlp.up_proj}, pre)
    sig = g.op("Sigmoid", [gate], f"{pre}/act/Sigmoid")[0]
    act = g.op("Mul", [gate, sig], f"{pre}/act/Mul")[0]
    return _linear(g, g.op("Mul", [act, up], f"{pre}/Mul")[0], mlp.down_proj, f"{pre}/down_proj")


def _norm(g: _Graph, x: str, residual: str | None, norm: Any, name: str, eps: float) -> tuple[str, str]:
    """RMS norm of x (+ residual, when given): (normed, the new residual stream)."""
    w = g.const(f"{name.strip('/').replace('/', '.')}.weight", _weight(norm))
    if residual is None:
        return g.op("SimplifiedLayerNormalization", [x, w], name, axis=-1, epsilon=eps, stash_type=1)[0], x
    out = g.op("SkipSimplifiedLayerNormalization", [x, residual, w], name, domain=MS, epsilon=eps,
               outputs=[f"{name}/output", "", "", f"{name}/sum"])
    return out[0], out[3]


def _kv_heads(cfg: Any) -> int:
    return int(getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads)


def _lm_head(g: _Graph, x: str, model: Any) -> str:
    """A tied head reads the embedding through a Transpose (ORT folds it; the file keeps one copy)."""
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if head.weight.data_ptr() == emb.weight.data_ptr():
        wt = g.op("Transpose", ["model.embed_tokens.weight"], "/lm_head/Transpose", perm=[1, 0])[0]
        return g.op("MatMul", [x, wt], "/lm_head/MatMul", outputs=["logits"])[0]
    w = g.const("lm_head.weight", _weight(head).T)
    return g.op("MatMul", [x, w], "/lm_head/MatMul", outputs=["logits"])[0]


def build_model(model: Any) -> Any:
    """The fused ONNX ModelProto of a transformers LlamaForCausalLM (fp32, eval)."""
    from onnx import TensorProto, helper

    cfg = model.config
    check_supported(cfg)
    g, eps = _Graph(), float(cfg.rms_norm_eps)
    cos, sin = rotary_caches(model)
    g.const("cos_cache", cos)
    g.const("sin_cache", sin)
    g.const("model.embed_tokens.weight", _weight(model.get_input_embeddings()))
    x = g.op("Gather", ["model.embed_tokens.weight", "input_ids"], "/model/embed_tokens/Gather")[0]
    lengths, residual, delta = _mask_lengths(g), None, x
    for i, layer in enumerate(model.model.layers):
        h, residual = _norm(g, delta, residual, layer.input_layernorm, f"/model/layers.{i}/input_layernorm", eps)
        delta = _attention(g, h, layer.self_attn, i, cfg, lengths)
        h, residual = _norm(g, delta, residual, layer.post_attention_layernorm,
                            f"/model/layers.{i}/post_attention_layernorm", eps)
        delta = _mlp(g, h, layer.mlp, i)
    h, _ = _norm(g, delta, residual, model.model.norm, "/model/norm", eps)
    _lm_head(g, h, model)
    head_dim = cos.shape[1] * 2
    io = helper.make_tensor_value_info
    past, present = [], []
    for i in range(len(model.model.layers)):
        for kind in ("key", "value"):
            past.append(io(f"past_key_values.{i}.{kind}", TensorProto.FLOAT,
                           ["batch_size", _kv_heads(cfg), "past_sequence_length", head_dim]))
            present.append(io(f"present.{i}.{kind}", TensorProto.FLOAT,
                              ["batch_size", _kv_heads(cfg), "total_sequence_length", head_dim]))
    graph = helper.make_graph(
        g.nodes, "edgesplit-fused-llama",
        [io("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
         io("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]), *past],
        [io("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", int(cfg.vocab_size)]), *present],
        initializer=g.weights)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS, 1)],
                              producer_name="edgesplit")
    proto.ir_version = 8
    helper.set_model_props(proto, {PADDING_KEY: "right-padding"})  # the runtime pads prompts as GQA reads them
    return proto


def write_fused(model: Any, out: Path) -> None:
    """model.onnx (external data past protobuf's 2 GB), config.json and generation_config.json in `out`."""
    from .quantize import save_model

    save_model(build_model(model), Path(out) / "model.onnx")
    model.config.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
