"""Seeded GGUF fuzzer: mutated headers, metadata and tensor tables against the pre-check and llama.cpp.

Each mutant of a tiny valid llama GGUF goes through `read_gguf_meta` (the pre-check). If it is
accepted, a child process loads it with the runtime's own backend and decodes one token: a
signal there (SIGABRT, SIGSEGV) or a hang means the pre-check let through a file that would
have killed the server, and fails the test. Bounded by a wall-clock budget, reproducible by seed.
"""

from __future__ import annotations

import math
import os
import random
import select
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from edge.errors import ModelFormatError
from edge.gguf_meta import read_gguf_meta
from tests.edge import test_gguf_hostile as G
from tests.edge.test_gguf_hostile import ARR, BOOL, F32, F64, I32, STR, TinyGGUF, tiny_llama

SEED = int(os.environ.get("EDGESPLIT_FUZZ_SEED", "1414"))
BUDGET_S = float(os.environ.get("EDGESPLIT_FUZZ_BUDGET_S", "40"))
MAX_INPUTS = 3000
CHILD_TIMEOUT_S = 60.0  # a tiny model loads in milliseconds; this only catches a hang

_BITS = {G.U8: (8, False), G.I8: (8, True), G.U16: (16, False), G.I16: (16, True), G.U32: (32, False),
         I32: (32, True), G.U64: (64, False), G.I64: (64, True)}
INTS = [0, 1, -1, 2, 3, 4, 7, 8, 31, 32, 63, 64, 127, 128, 255, 256, 259, 262, 511, 512, 513, 1023, 1024, 1025,
        2**15 - 1, 2**16 - 1, 2**16, 2**24, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, -(2**63)]
FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, 1e-45, 1e30, 3.4e38, math.nan, math.inf, -math.inf, 1e-5, 1e4]
STRINGS = ["", "x", "llama", "gpt2", "rwkv", "bert", "t5", "ugm", "none", "yarn", "longrope", "linear",
           "smollm", "default", "\x00", "a" * 70_000, "{{", "{% for %}", "\ud800", "é" * 40, "bogus"]
TOKENIZERS = ["llama", "gpt2", "bert", "t5", "rwkv", "plamo2", "gemma4", "hybriddna", "whitespace", "test", "ugm"]
SHORT_STRINGS = [s for s in STRINGS if len(s) < 100]
ARCHS = ["t5", "gemma3", "gemma", "qwen2", "phi3", "bitnet", "bert", "mamba", "rwkv6", "falcon", "gpt2",
         "mistral", "deepseek2", "qwen3moe", "bogus", "", "clip"]
EXTRA_KEYS = ["llama.expert_count", "llama.expert_used_count", "llama.rope.scaling.type", "llama.rope.scaling.factor",
              "llama.attention.key_length", "llama.attention.value_length", "llama.vocab_size",
              "llama.nextn_predict_layers", "general.alignment", "llama.attention.sliding_window",
              "llama.expert_group_count", "llama.expert_group_used_count", "llama.embedding_length_out",
              "tokenizer.ggml.merges", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_eos_token",
              "tokenizer.ggml.pre", "llama.rope.scaling.original_context_length", "llama.attention.layer_norm_epsilon",
              "llama.rope.dimension_sections", "llama.leading_dense_block_count", "llama.expert_shared_count",
              "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.cls_token_id", "llama.logit_scale"]


def _int_for(vtype: int, value: int) -> int:
    bits, signed = _BITS[vtype]
    value &= (1 << bits) - 1
    return value - (1 << bits) if signed and value >> (bits - 1) else value


def _value(rng: random.Random, vtype: int, depth: int = 0) -> object:
    if vtype in _BITS:
        return _int_for(vtype, rng.choice(INTS) if rng.random() < 0.8 else rng.getrandbits(64))
    if vtype in (F32, F64):
        return rng.choice(FLOATS)
    if vtype == BOOL:
        return rng.random() < 0.5
    if vtype == STR:
        pool = STRINGS if depth == 0 else SHORT_STRINGS  # a huge string once, not in each of 5,000 array items
        return rng.choice(pool) if rng.random() < 0.9 else bytes(rng.getrandbits(8) for _ in range(rng.randrange(9)))
    etype = rng.choice([G.U8, I32, G.U32, F32, STR, BOOL, G.I64] + ([ARR] if depth < 1 else []))
    n = rng.choice([0, 1, 2, 3, 30, 262, 263, 5000])
    return (etype, [_value(rng, etype, depth + 1) for _ in range(n)])


def _any_value(rng: random.Random) -> tuple[int, object]:
    vtype = rng.choice(range(13))  # every GGUF value type
    return vtype, _value(rng, vtype)


def _mutate_kv(rng: random.Random, g: TinyGGUF) -> tuple[TinyGGUF, str]:
    keys = [k for k, _, _ in g.kv] + EXTRA_KEYS
    key = rng.choice(keys)
    roll = rng.random()
    if roll < 0.1:
        return g.drop(key), f"drop {key}"
    if roll < 0.2 and key in dict((k, 0) for k, _, _ in g.kv):  # same type, extreme value
        vtype = next(t for k, t, _ in g.kv if k == key)
        return g.set(key, vtype, _value(rng, vtype)), f"{key} same type"
    if roll < 0.3:
        return g.set("general.architecture", STR, rng.choice(ARCHS)), "architecture"
    if roll < 0.35:
        return replace(g, kv=[*g.kv, (key, *_any_value(rng))]), f"duplicate {key}"
    if roll < 0.42:  # another tokenizer over the same pieces, byte tokens made normal
        n = len(tiny_llama().kv[13][2][1])  # the seed's vocabulary size
        model = rng.choice(TOKENIZERS)
        g = g.set("tokenizer.ggml.model", STR, model).set("tokenizer.ggml.token_type", ARR, (I32, [1] * n))
        return g, f"tokenizer {model}"
    vtype, value = _any_value(rng)
    return g.set(key, vtype, value), f"{key} type {vtype}"


def _mutate_tensor(rng: random.Random, g: TinyGGUF) -> tuple[TinyGGUF, str]:
    tensors = list(g.tensors)
    i = rng.randrange(len(tensors))
    t = tensors[i]
    kind = rng.choice(["dims", "dims", "type", "offset", "drop", "rename", "ndims", "data"])
    if kind == "dims" and t.dims:
        dims = list(t.dims)
        j = rng.randrange(len(dims))
        dims[j] = rng.choice([0, 1, dims[j] - 1, dims[j] + 1, dims[j] * 2, 2**31, 2**40, 2**63 - 1, 2**64 - 1])
        tensors[i] = replace(t, dims=tuple(dims))
    elif kind == "type":
        tensors[i] = replace(t, ggml_type=rng.choice([1, 2, 3, 6, 7, 8, 10, 12, 16, 24, 26, 28, 30, 31, 39, 40, 255, 2**31]))
    elif kind == "offset":
        tensors[i] = replace(t, offset=rng.choice([0, 1, 31, 2**20, 2**62, 2**64 - 32]))
    elif kind == "drop":
        del tensors[i]
    elif kind == "rename":
        tensors[i] = replace(t, name=rng.choice(["", "x" * 64, t.name + ".bias", tensors[0].name, "blk.9.attn_q.weight"]))
    elif kind == "ndims":
        tensors[i] = replace(t, dims=(*t.dims, 1, 1, 1)[: rng.choice([0, 5, 3])])
    else:
        tensors[i] = replace(t, data=t.data[: len(t.data) // 2])
    return replace(g, tensors=tensors), f"tensor {t.name} {kind}"


def _mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    buf = bytearray(data)
    header = min(len(buf), 8000)  # metadata and tensor table of the tiny model
    if rng.random() < 0.3:
        cut = rng.randrange(len(buf))
        return bytes(buf[:cut]), f"truncate at {cut}"
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        buf[rng.randrange(header)] = rng.getrandbits(8)
    return bytes(buf), "byte flips"


def mutant(rng: random.Random, seed_model: TinyGGUF) -> tuple[bytes, str]:
    """One mutated GGUF file and a description of what was changed."""
    g, what = seed_model, []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        roll = rng.random()
        if roll < 0.55:
            g, w = _mutate_kv(rng, g)
        elif roll < 0.8:
            g, w = _mutate_tensor(rng, g)
        else:
            g, w = replace(g, version=rng.choice([0, 1, 2, 4, 2**31])) if rng.random() < 0.2 else g, "version"
        what.append(w)
    data = g.to_bytes()
    if rng.random() < 0.25:
        data, w = _mutate_bytes(rng, data)
        what.append(w)
    return data, "; ".join(what)


CHILD = r"""
import sys
from edge.engine import Engine
from edge.errors import EdgeError
from edge.options import RuntimeOptions
for line in sys.stdin:
    try:
        e = Engine.load(line.strip(), options=RuntimeOptions(n_threads=1, n_ctx=64, n_batch=64))
        try:
            e.generate("Hi", max_tokens=1, temperature=0)
        finally:
            e.close()
        print("ok", flush=True)
    except EdgeError as exc:
        print("refused", flush=True)
    except Exception as exc:
        print("unclean", type(exc).__name__, str(exc)[:200].replace("\n", " "), flush=True)
"""


@dataclass
class LlamaChild:
    """A child process that loads GGUFs one by one; restarted after a crash."""

    proc: subprocess.Popen | None = None

    def run(self, path: Path) -> str:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True,
                                         env={**os.environ, "GGML_NO_BACKTRACE": "1"})
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], CHILD_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return line.strip()
        self.proc.kill()
        code = self.proc.wait()
        self.proc = None
        return f"crash {code}" if ready else "hang"

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(30)


def fuzz(tmp: Path, seed: int, budget_s: float, max_inputs: int = MAX_INPUTS) -> dict:
    rng, base = random.Random(seed), tiny_llama()
    counts, failures, child = Counter(), [], LlamaChild()
    t_end = time.monotonic() + budget_s
    try:
        while time.monotonic() < t_end and counts["inputs"] < max_inputs:
            data, what = mutant(rng, base)
            path = tmp / f"m{counts['inputs'] % 8}.gguf"
            path.write_bytes(data)
            counts["inputs"] += 1
            try:
                read_gguf_meta(path)
            except ModelFormatError:
                counts["refused_by_precheck"] += 1
                continue
            except Exception as exc:  # the pre-check itself must never crash
                failures.append(f"pre-check raised {type(exc).__name__}: {exc} [{what}]")
                continue
            outcome = child.run(path)
            counts[outcome.split()[0]] += 1
            if outcome.startswith(("crash", "hang", "unclean")):  # unclean: a traceback / HTTP 500
                failures.append(f"llama.cpp {outcome} on a file the pre-check accepted [{what}]")
    finally:
        child.close()
    return {"counts": dict(counts), "failures": failures}


@pytest.mark.slow
def test_gguf_fuzz_never_crashes_llamacpp(tmp_path):
    report = fuzz(tmp_path, SEED, BUDGET_S)
    counts = report["counts"]
    print(f"gguf fuzz seed {SEED}: {counts}")
    assert counts["inputs"] >= 30, counts  # enough to mean something even on a slow machine
    assert counts.get("ok", 0) > 0 and counts.get("refused_by_precheck", 0) > 0, counts
    assert not report["failures"], "\n".join(report["failures"][:20])
