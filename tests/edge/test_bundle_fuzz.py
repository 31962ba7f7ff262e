"""Seeded manifest/bundle fuzzer: mutated manifests against the readers, the models list and /v1/models.

Every mutant is a bundle directory whose manifest.json was changed in structure, types,
nesting depth, size, file names or hashes (or as raw bytes). `read_manifest`, `verify_files`
and `resolve` may only succeed or raise an EdgeError; `list_models` must never raise and must
keep listing the good bundle. At the end all mutants sit in the models folder at once, and the
real `edgesplit models --json` and a real server's GET /v1/models must answer.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from edge.bundle import read_manifest, sha256_file, verify_files
from edge.errors import EdgeError, ModelNotFoundError
from edge.models import list_models, models_dir, resolve
from tests.conftest import run_cli
from tests.edge.test_gguf_hostile import tiny_llama

SEED = int(os.environ.get("EDGESPLIT_FUZZ_SEED", "1414"))
BUDGET_S = float(os.environ.get("EDGESPLIT_FUZZ_BUDGET_S", "12"))
MAX_INPUTS = 1500
KEPT = 150  # mutants left in the models folder for the CLI and server checks

NAMES = ["", "/etc/passwd", "../x.gguf", "a/../../b", "a" * 5000, "d/" * 2000 + "m.gguf", "nul\x00.gguf",
         "\ud800.gguf", "é.gguf", ".", "manifest.json", "model.gguf/", "C:\\x.gguf", " ", "x" * 255 + ".gguf"]
HASHES = ["", "0" * 63, "0" * 65, "A" * 64, "g" * 64, 0, None, ["x"], "0" * 64]
VALUES = [None, True, 0, -1, 2**64, 1.5, float("nan"), float("inf"), "", "x" * 100_000, [], {}, [1, 2], {"a": 1}]
FIELDS = ["schema_version", "format", "architecture", "encoder_decoder", "quantization", "files", "tokenizer",
          "chat_template", "source", "parity", "tokenizer_parity", "decode_parity", "created_with", "runtime", "quant",
          "extra", "unknown"]
V1_EXTRA = ["runtime", "ternarize", "fallbacks", "tokenizer_parity", "decode_parity", "kv_type_for_parity", "other"]


def good_bundle(root: Path, name: str = "good") -> Path:
    bundle = root / name
    bundle.mkdir(parents=True)
    gguf = tiny_llama().write(bundle / "model.gguf")
    manifest = {"schema_version": 2, "format": "gguf", "architecture": "llama", "quantization": "f32",
                "created_with": "test", "files": {"model.gguf": sha256_file(gguf)}, "source": {"path": "/nowhere"},
                "parity": {"reference": "x", "max_abs_logit_diff": 0.1, "top1_agreement": 1.0, "n_tokens": 8},
                "tokenizer_parity": {"reference": "x", "candidate": "y", "n_texts": 3, "mismatches": 0},
                "runtime": {"llama_cpp_python": "0.3", "exact_gelu": True, "kv_type_for_parity": "f32"},
                "quant": {"ternarize": None, "ternary_tensors": 0, "keep_embeddings": None, "fallbacks": []}}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth if depth % 2 else '{"a":' * depth + "1" + "}" * depth


def mutate(rng: random.Random, manifest: dict) -> tuple[bytes, str]:
    """A mutated manifest.json (bytes) and what was done to it."""
    m = json.loads(json.dumps(manifest))
    kind = rng.choice(["field", "field", "files", "files", "hash", "deep", "huge", "top", "drop", "raw", "v1"])
    field = rng.choice(FIELDS)
    if kind == "field":
        m[field] = rng.choice(VALUES)
    elif kind == "files":
        m["files"] = {rng.choice(NAMES): "0" * 64 for _ in range(rng.choice([1, 2, 5]))} | (
            m["files"] if rng.random() < 0.5 else {})
    elif kind == "hash":
        m["files"] = {"model.gguf": rng.choice(HASHES)}
    elif kind == "v1":  # a schema 1 manifest (facts in `extra`), one of them changed: read through the migration
        extra = {"runtime": m.pop("runtime"), **m.pop("quant"), "tokenizer_parity": m.pop("tokenizer_parity")}
        extra[rng.choice(V1_EXTRA)] = rng.choice(VALUES)
        m |= {"schema_version": rng.choice([1, 1, None]), "extra": extra}
        if m["schema_version"] is None:
            del m["schema_version"]
    elif kind == "drop":
        m.pop(field, None)
    elif kind == "top":
        return json.dumps(rng.choice(VALUES)).encode(), "top-level value"
    elif kind == "huge":
        m[rng.choice(["extra", "source", "files", "runtime"])] = {f"k{i}": "0" * 64
                                                                 for i in range(rng.choice([5_000, 20_000]))}
    if kind == "deep":
        depth = rng.choice([65, 1000, 100_000, 300_000])
        text = json.dumps(m).replace('"source": {', '"source": {"deep": ' + _nest(depth) + ", ", 1)
        return text.encode(), f"source nested {depth}"
    data = json.dumps(m, allow_nan=True).encode("utf-8", "surrogatepass")
    if kind == "raw":
        buf = bytearray(data)
        for _ in range(rng.choice([1, 3, 10])):
            buf[rng.randrange(len(buf))] = rng.getrandbits(8)
        data = bytes(buf[: rng.randrange(1, len(buf) + 1)]) if rng.random() < 0.3 else bytes(buf)
    return data, f"{kind} {field}"


def _only_edge_errors(fn, *args) -> str:
    try:
        fn(*args)
    except EdgeError:
        return "refused"
    return "ok"


def fuzz(seed: int, budget_s: float) -> tuple[Counter, list[str]]:
    root = models_dir()
    base = good_bundle(root)
    manifest = json.loads((base / "manifest.json").read_text())
    rng, counts, failures = random.Random(seed), Counter(), []
    t_end = time.monotonic() + budget_s
    while time.monotonic() < t_end and counts["inputs"] < MAX_INPUTS:
        i = counts["inputs"]
        bundle = root / f"m{i % KEPT:03d}"
        if not bundle.exists():
            shutil.copytree(base, bundle)
        data, what = mutate(rng, manifest)
        (bundle / "manifest.json").write_bytes(data)
        counts["inputs"] += 1
        try:
            outcome = _only_edge_errors(read_manifest, bundle)
            if outcome == "ok":
                outcome = _only_edge_errors(verify_files, bundle, read_manifest(bundle))
            _only_edge_errors(resolve, str(bundle))
            _only_edge_errors(resolve, bundle.name)
            if i % 10 == 0:  # the whole folder: every kept mutant is read again
                rows = {r["name"]: r for r in list_models()}
                if rows.get("good", {}).get("error") or bundle.name not in rows:
                    failures.append(f"list_models lost a bundle [{what}]")
            counts[outcome] += 1
        except Exception as exc:  # anything but an EdgeError is a traceback for the user
            failures.append(f"{type(exc).__name__}: {str(exc)[:120]} [{what}]")
    return counts, failures


@pytest.mark.slow
def test_manifest_fuzz_gives_only_clean_errors():
    from tests.edge.server.conftest import LiveServer

    counts, failures = fuzz(SEED, BUDGET_S)
    print(f"bundle fuzz seed {SEED}: {dict(counts)}")
    assert counts["inputs"] >= 20 and counts["refused"] > 0, counts  # enough to mean something on a slow machine
    assert not failures, "\n".join(failures[:20])
    cli = run_cli("models", "--json", timeout=120)  # all kept mutants in the folder at once
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "good" in {r["name"] for r in json.loads(cli.stdout)}
    live = LiveServer(models=["default"], threads=1).start()
    try:
        resp = httpx.get(live.url + "/v1/models", timeout=60)
        assert resp.status_code == 200, resp.text[:500]
        assert {"default", "good"} <= {m["id"] for m in resp.json()["data"]}
        assert httpx.get(live.url + "/health", timeout=60).status_code == 200
    finally:
        live.stop()


@pytest.mark.parametrize("depth", [100_000])
def test_deeply_nested_manifest_is_a_clean_error(depth):
    bundle = good_bundle(models_dir())
    text = (bundle / "manifest.json").read_text().replace('"source": {', '"source": {"deep": ' + _nest(depth) + ", ", 1)
    (bundle / "manifest.json").write_text(text)
    with pytest.raises(EdgeError, match="re-export"):
        read_manifest(bundle)
    assert next(r for r in list_models() if r["name"] == "good")["error"]


@pytest.mark.parametrize("name", ["a" * 5000, "d/" * 2000 + "m.gguf"])
def test_long_file_names_in_a_manifest_are_clean_errors(name):
    bundle = good_bundle(models_dir())
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][name] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EdgeError, match="re-export"):
        resolve(str(bundle))


def test_long_model_name_on_the_cli_is_a_clean_error():
    with pytest.raises(ModelNotFoundError):
        resolve("a" * 5000)
    proc = run_cli("run", "-m", "a" * 5000, "hi", timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1000:]
