"""GGUFs that pass a structural check but make llama.cpp abort, and other hostile model files.

Each file is written by a small GGUF serializer (below, also used by the fuzzer) so that any
field can hold any type or value. The pre-check must refuse it with a ModelFormatError, and
the child-process probe must turn an abort into one.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ModelFormatError
from edge.gguf_meta import read_gguf_meta

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}
GGML_F32 = 0


@dataclass
class Tensor:
    name: str
    dims: tuple[int, ...]  # ggml order: fastest-varying first
    ggml_type: int = GGML_F32
    data: bytes = b""
    offset: int | None = None  # None: the right aligned offset


@dataclass
class TinyGGUF:
    """A GGUF as data: metadata (key, type, value) and tensors; `write` serializes it exactly."""

    kv: list[tuple[str, int, object]] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    version: int = 3
    align: int = 32

    def set(self, key: str, vtype: int, value: object) -> TinyGGUF:
        kv = [(k, t, v) for k, t, v in self.kv if k != key] + [(key, vtype, value)]
        return replace(self, kv=kv)

    def drop(self, key: str) -> TinyGGUF:
        return replace(self, kv=[e for e in self.kv if e[0] != key])

    def to_bytes(self) -> bytes:
        out = bytearray(b"GGUF" + struct.pack("<IQQ", self.version, len(self.tensors), len(self.kv)))
        for key, vtype, value in self.kv:
            out += _str(key) + struct.pack("<I", vtype) + _value(vtype, value)
        offsets, pos = [], 0
        for t in self.tensors:
            offsets.append(pos if t.offset is None else t.offset)
            pos += (len(t.data) + self.align - 1) // self.align * self.align
        for t, off in zip(self.tensors, offsets, strict=True):
            out += _str(t.name) + struct.pack("<I", len(t.dims)) + b"".join(struct.pack("<Q", d) for d in t.dims)
            out += struct.pack("<IQ", t.ggml_type, off)
        out += b"\0" * (-len(out) % self.align)
        for t in self.tensors:
            out += t.data + b"\0" * (-len(t.data) % self.align)
        return bytes(out)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.to_bytes())
        return path


def _str(s: str | bytes) -> bytes:
    raw = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
    return struct.pack("<Q", len(raw)) + raw


def _value(vtype: int, value: object) -> bytes:
    if vtype == STR:
        return _str(value)  # type: ignore[arg-type]
    if vtype == ARR:
        etype, items = value  # type: ignore[misc]
        return struct.pack("<IQ", etype, len(items)) + b"".join(_value(etype, v) for v in items)
    return struct.pack("<" + _FMT[vtype], value)


def tiny_llama(n_layer: int = 2, n_embd: int = 32, n_head: int = 4, n_kv: int = 2, n_ff: int = 64,
               seed: int = 0) -> TinyGGUF:
    """A random 2-layer llama with an SPM byte vocabulary: loads and decodes in llama.cpp in ms."""
    rng = np.random.default_rng(seed)
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁H", "i", "▁a"]
    kinds = [2, 3, 3] + [6] * 256 + [1] * 3
    n_vocab, head = len(pieces), n_embd // n_head
    kv: list[tuple[str, int, object]] = [
        ("general.architecture", STR, "llama"), ("general.name", STR, "tiny"),
        ("llama.context_length", U32, 128), ("llama.embedding_length", U32, n_embd),
        ("llama.block_count", U32, n_layer), ("llama.feed_forward_length", U32, n_ff),
        ("llama.attention.head_count", U32, n_head), ("llama.attention.head_count_kv", U32, n_kv),
        ("llama.rope.dimension_count", U32, head), ("llama.rope.freq_base", F32, 10000.0),
        ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5), ("general.file_type", U32, 0),
        ("tokenizer.ggml.model", STR, "llama"), ("tokenizer.ggml.tokens", ARR, (STR, pieces)),
        ("tokenizer.ggml.scores", ARR, (F32, [0.0] * n_vocab)), ("tokenizer.ggml.token_type", ARR, (I32, kinds)),
        ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.unknown_token_id", U32, 0), ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.chat_template", STR, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"),
    ]

    def t(name: str, *dims: int) -> Tensor:
        n = int(np.prod(dims))
        return Tensor(name, dims, GGML_F32, (rng.standard_normal(n) * 0.02).astype("<f4").tobytes())

    tensors = [t("token_embd.weight", n_embd, n_vocab), t("output_norm.weight", n_embd), t("output.weight", n_embd, n_vocab)]
    for i in range(n_layer):
        p = f"blk.{i}."
        tensors += [t(p + "attn_norm.weight", n_embd), t(p + "attn_q.weight", n_embd, n_embd),
                    t(p + "attn_k.weight", n_embd, head * n_kv), t(p + "attn_v.weight", n_embd, head * n_kv),
                    t(p + "attn_output.weight", n_embd, n_embd), t(p + "ffn_norm.weight", n_embd),
                    t(p + "ffn_gate.weight", n_embd, n_ff), t(p + "ffn_up.weight", n_embd, n_ff),
                    t(p + "ffn_down.weight", n_ff, n_embd)]
    return TinyGGUF(kv, tensors)


# (id, mutation) -> files llama.cpp aborts on or the old parser crashed on, all refused up front
HOSTILE = {
    "block_count_0": lambda g: g.set("llama.block_count", U32, 0),
    "block_count_1000": lambda g: g.set("llama.block_count", U32, 1000),
    "rms_eps_negative": lambda g: g.set("llama.attention.layer_norm_rms_epsilon", F32, -1.0),
    "rms_eps_nan": lambda g: g.set("llama.attention.layer_norm_rms_epsilon", F32, float("nan")),
    "alignment_0": lambda g: g.set("general.alignment", U32, 0),
    "alignment_not_pow2": lambda g: g.set("general.alignment", U32, 48),
    "context_length_max": lambda g: g.set("llama.context_length", U32, 0xFFFFFFFF),
    "experts_used_without_experts": lambda g: g.set("llama.expert_used_count", U32, 2),
    "experts_too_many": lambda g: g.set("llama.expert_count", U32, 5000).set("llama.expert_used_count", U32, 2),
    "rope_scaling_unknown": lambda g: g.set("llama.rope.scaling.type", STR, "bogus"),
    "head_kv_zero": lambda g: g.set("llama.attention.head_count_kv", U32, 0),
    "head_kv_not_divisor": lambda g: g.set("llama.attention.head_count_kv", U32, 3),
    "nextn_over_layers": lambda g: g.set("llama.nextn_predict_layers", U32, 9),
    "block_count_string": lambda g: g.set("llama.block_count", STR, "2"),
    # found by tests/edge/test_gguf_fuzz.py
    "duplicate_token": lambda g: _retoken(g, 5, "<0x01>"),
    "int32_weight": lambda g: replace(g, tensors=[replace(t, ggml_type=26) if t.name == "blk.0.ffn_gate.weight"
                                                  else t for t in g.tensors]),
    "bert_vocab_with_byte_tokens": lambda g: g.set("tokenizer.ggml.model", STR, "bert"),
    "alignment_2": lambda g: replace(g.set("general.alignment", U32, 2), align=2),
}


def _retoken(g: TinyGGUF, index: int, piece: str) -> TinyGGUF:
    pieces = list(dict((k, v) for k, _, v in g.kv)["tokenizer.ggml.tokens"][1])
    pieces[index] = piece
    return g.set("tokenizer.ggml.tokens", ARR, (STR, pieces))


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory) -> Path:
    return tiny_llama().write(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def test_tiny_llama_is_accepted_and_runs(tiny_path):
    """The seed file itself is valid: the pre-check passes and llama.cpp decodes it (in a child)."""
    from edge.gguf_probe import probe_gguf

    assert read_gguf_meta(tiny_path).architecture == "llama"
    probe_gguf(tiny_path)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_hparams_refused_before_llamacpp(case, tmp_path, tiny_path):
    path = HOSTILE[case](tiny_llama()).write(tmp_path / f"{case}.gguf")
    with pytest.raises(ModelFormatError) as err:
        read_gguf_meta(path)
    assert str(path) in str(err.value) and "re-" in str(err.value)


def _llamacpp_exit(path: Path) -> int:
    """Exit status of a child that gives `path` straight to llama.cpp (load + one decode)."""
    code = ("import sys, llama_cpp\n"
            "try:\n llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_threads=1, verbose=False)\n"
            " llm.eval(llm.tokenize(b'Hi', add_bos=True))\nexcept Exception:\n sys.exit(3)\n")
    env = {**os.environ, "GGML_NO_BACKTRACE": "1"}  # ggml would attach gdb for a backtrace: seconds each
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=120, env=env).returncode


@pytest.mark.parametrize("case", ["block_count_1000", "rms_eps_negative", "experts_used_without_experts",
                                  "duplicate_token", "int32_weight", "bert_vocab_with_byte_tokens", "alignment_2"])
def test_these_really_abort_llamacpp(case, tmp_path):
    """The reproductions are real: unchecked, llama.cpp kills its process with a signal."""
    path = HOSTILE[case](tiny_llama()).write(tmp_path / f"{case}.gguf")
    assert _llamacpp_exit(path) < 0


def test_probe_turns_an_abort_into_an_error(tmp_path, monkeypatch):
    """What the rules miss, the child-process probe reports as a ModelFormatError (here: a rule disabled)."""
    from edge import gguf_hparams, gguf_probe

    path = HOSTILE["rms_eps_negative"](tiny_llama()).write(tmp_path / "eps.gguf")
    monkeypatch.setattr(gguf_hparams, "RULES", ())  # only in this process: the child still checks
    assert _llamacpp_exit(path) < 0
    code = ("import sys\nfrom edge import gguf_hparams\ngguf_hparams.RULES = ()\n"
            "from edge.gguf_probe import _probe_main\nsys.exit(_probe_main(sys.argv[1]))\n")
    monkeypatch.setattr(gguf_probe, "_child_command", lambda p: [sys.executable, "-c", code, str(p)])
    with pytest.raises(ModelFormatError, match="crashed"):
        gguf_probe.probe_gguf(path)
    with pytest.raises(ModelFormatError, match="crashed"):  # remembered: no second child
        monkeypatch.setattr(gguf_probe, "_run_child", lambda *a: pytest.fail("probed twice"))
        gguf_probe.probe_gguf(path)


def test_probe_result_is_cached_per_file_version(tiny_path, monkeypatch):
    from edge import gguf_probe

    gguf_probe.probe_gguf(tiny_path)
    monkeypatch.setattr(gguf_probe, "_run_child", lambda *a: pytest.fail("probed twice"))
    gguf_probe.probe_gguf(tiny_path)


def test_truncated_and_garbled_headers_are_clean_errors(tmp_path):
    data = tiny_llama().to_bytes()
    for i, cut in enumerate([8, 24, 100, 2000, len(data) // 2, len(data) - 1]):
        path = tmp_path / f"cut{i}.gguf"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError):
            read_gguf_meta(path)


# -- edgesplit verify -------------------------------------------------------------------------------
def _tiny_bundle(root: Path, source: dict | None = None) -> Path:
    import json

    from edge.bundle import sha256_file

    root.mkdir(parents=True, exist_ok=True)
    gguf = tiny_llama().write(root / "model.gguf")
    manifest = {"format": "gguf", "architecture": "llama", "quantization": "f32", "created_with": "test",
                "files": {"model.gguf": sha256_file(gguf)}, "source": source or {}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_verify_without_source_path_asks_for_reference(tmp_path, monkeypatch):
    from tests.conftest import run_cli

    bundle = _tiny_bundle(tmp_path / "b")
    monkeypatch.chdir(tmp_path)  # the old code took the current directory as the reference
    proc = run_cli("verify", str(bundle), timeout=300)
    assert proc.returncode == 2 and "--reference" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", ["block_count_1000", "rms_eps_negative", "alignment_0"])
def test_verify_reference_is_prechecked(case, tmp_path):
    from tests.conftest import run_cli

    bundle = _tiny_bundle(tmp_path / "b")
    ref = HOSTILE[case](tiny_llama()).write(tmp_path / f"{case}.gguf")
    proc = run_cli("verify", str(bundle), "--reference", str(ref), timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert str(ref) in proc.stderr and "Traceback" not in proc.stderr


def test_broken_chat_template_is_refused_at_load(tmp_path):
    path = tiny_llama().set("tokenizer.chat_template", STR, "{% for m in messages %}").write(tmp_path / "t.gguf")
    with pytest.raises(ModelFormatError, match="chat template is broken"):
        read_gguf_meta(path)


@pytest.mark.parametrize("template", ["{{ 1 / 0 }}", "{{ messages[7].content }}", "{{ messages|map('nope')|list }}",
                                      "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"])
def test_chat_template_failing_at_render_is_a_clean_error(template, tmp_path):
    from edge import Engine, RuntimeOptions

    path = tiny_llama().set("tokenizer.chat_template", STR, template).write(tmp_path / "t.gguf")
    engine = Engine.load(str(path), options=RuntimeOptions(n_threads=1, n_ctx=64))
    try:
        with pytest.raises(ModelFormatError, match="chat template is broken"):
            engine.generate([{"role": "user", "content": "hi"}], max_tokens=1)
    finally:
        engine.close()
