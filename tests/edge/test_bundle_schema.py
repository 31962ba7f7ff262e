"""The typed manifest (schema 2): round trip, schema 1 migration, and errors that list every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.bundle import (
    SCHEMA_VERSION,
    GgufManifest,
    OnnxManifest,
    new_manifest,
    read_manifest,
    write_manifest,
)
from edge.errors import BundleIntegrityError, ModelFormatError

DIGEST = "0" * 64
COMMON = {"architecture": "llama", "quantization": "f32", "files": {"model.gguf": DIGEST}, "created_with": "test",
          "parity": {"reference": "pytorch:ckpt", "max_abs_logit_diff": 1e-6, "top1_agreement": 1.0, "n_tokens": 30,
                     "tolerance": 1e-3, "min_top1": None},
          "tokenizer_parity": {"reference": "transformers:ckpt", "candidate": "llama.cpp:m.gguf", "n_texts": 45,
                               "mismatches": 0}}
DECODE = {"reference": "pytorch:ckpt generate", "agreement": 0.75, "max_abs_logit_diff": 0.2, "n_prompts": 3,
          "n_tokens": 32, "min_agreement": 0.6, "tolerance": None, "margin": 0.002, "first_miss": [0, 6]}
ONNX_RUNTIME = {"bos_token": "<s>", "eos_token": "</s>", "add_bos": False, "eog_token_ids": [2],
                "decoder_start_token_id": None, "n_ctx_train": 256, "n_vocab": 512, "n_params": 106816}
# schema 1 manifests exactly as `edgesplit export gguf|onnx` wrote them (facts in `extra`)
V1_GGUF = {**COMMON, "schema_version": 1, "format": "gguf", "extra": {
    "ternarize": "absmean", "ternary_tensors": 14, "keep_embeddings": "f16", "fallbacks": ["blk.0.attn_k.weight: x"],
    "kv_type_for_parity": "f32", "runtime": {"llama_cpp_python": "0.3.36", "exact_gelu": True},
    "tokenizer_parity": COMMON["tokenizer_parity"],
    "decode_parity": {**DECODE, "passed": True, "summary": "greedy decode agreement 0.750 ..."}}}
V1_ONNX = {**{k: v for k, v in COMMON.items() if k != "tokenizer_parity"}, "schema_version": 1, "format": "onnx",
           "files": {"model.onnx": DIGEST}, "tokenizer": "tokenizer.json",
           "extra": {"bits": 4, "block_size": 16, "accuracy_level": 4, "symmetric": True, "keep_8bit": ["v_proj"],
                     "ort_mobile": True, "decode_parity": DECODE, "runtime": ONNX_RUNTIME,
                     "tokenizer_parity": COMMON["tokenizer_parity"]}}


def _bundle(tmp_path: Path, manifest: dict, name: str = "b") -> Path:
    bundle = tmp_path / name
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


@pytest.mark.parametrize("fmt", ["gguf", "onnx"])
def test_typed_manifest_round_trips_through_the_file(tmp_path, fmt):
    facts = {"runtime": {"llama_cpp_python": "0.3.36", "exact_gelu": False, "kv_type_for_parity": "f32"},
             "quant": {"fallbacks": ["t: q4_k -> q5_0"], "keep_embeddings": "q8_0"}} if fmt == "gguf" else {
        "runtime": ONNX_RUNTIME, "quant": {"bits": 8, "block_size": 16, "accuracy_level": 4}, "ort_mobile": True}
    manifest = new_manifest(format=fmt, **COMMON, decode_parity=DECODE, **facts)
    assert isinstance(manifest, {"gguf": GgufManifest, "onnx": OnnxManifest}[fmt])
    (tmp_path / "b").mkdir()
    write_manifest(tmp_path / "b", manifest)
    text = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert text["schema_version"] == SCHEMA_VERSION == 2 and "extra" not in text
    back = read_manifest(tmp_path / "b")
    assert back == manifest and type(back) is type(manifest)
    assert back.decode_parity.passed and back.decode_parity.first_miss == (0, 6)
    assert back.tokenizer_parity.passed


def test_schema_1_gguf_bundle_is_migrated_to_its_typed_fields(tmp_path):
    m = read_manifest(_bundle(tmp_path, V1_GGUF))
    assert isinstance(m, GgufManifest) and m.schema_version == 2
    assert m.runtime.llama_cpp_python == "0.3.36" and m.runtime.exact_gelu is True
    assert m.runtime.kv_type_for_parity == "f32"
    assert m.quant.ternarize == "absmean" and m.quant.ternary_tensors == 14 and m.quant.keep_embeddings == "f16"
    assert m.quant.fallbacks == ["blk.0.attn_k.weight: x"]
    assert m.tokenizer_parity.n_texts == 45 and m.decode_parity.passed  # `passed` is derived, as schema 1 stored it
    assert str(m.decode_parity).startswith("greedy decode agreement 0.750 over 3x32 cached steps")


def test_schema_1_onnx_bundle_is_migrated_to_its_typed_fields(tmp_path):
    m = read_manifest(_bundle(tmp_path, V1_ONNX))
    assert isinstance(m, OnnxManifest) and m.ort_mobile is True
    assert m.runtime.eog_token_ids == [2] and m.runtime.n_vocab == 512 and m.runtime.decoder_start_token_id is None
    assert (m.quant.bits, m.quant.block_size, m.quant.keep_8bit) == (4, 16, ["v_proj"])
    assert m.decode_parity.agreement == 0.75


def test_hand_written_schema_1_gguf_without_facts_still_loads(tmp_path):
    minimal = {"format": "gguf", "architecture": "llama", "quantization": "f32", "created_with": "test",
               "files": {"model.gguf": DIGEST}, "extra": {}}  # no schema_version: it defaulted to 1
    m = read_manifest(_bundle(tmp_path, minimal))
    assert m.runtime.exact_gelu is None and m.quant.fallbacks == []


def test_schema_1_onnx_bundle_without_runtime_facts_asks_to_re_export(tmp_path):
    old = json.loads(json.dumps(V1_ONNX))
    del old["extra"]["runtime"]
    old["extra"]["made_up"] = 1
    with pytest.raises(BundleIntegrityError) as err:
        read_manifest(_bundle(tmp_path, old))
    msg = str(err.value)
    assert "runtime: required key is missing" in msg and "extra.made_up: unknown key" in msg
    assert "manifest schema 1" in msg and "re-export the bundle with `edgesplit export onnx SRC OUT`" in msg


def test_manifest_lists_unknown_missing_and_mistyped_keys_together(tmp_path):
    bad = {**COMMON, "schema_version": 2, "format": "onnx", "runtime": {**ONNX_RUNTIME, "n_vocab": "many",
                                                                        "spin": True}}
    del bad["runtime"]["eog_token_ids"]
    del bad["created_with"]
    bad["colour"] = "blue"
    with pytest.raises(BundleIntegrityError) as err:
        read_manifest(_bundle(tmp_path, bad))
    lines = str(err.value).splitlines()
    assert "5 problems" in lines[0]
    for expected in ("runtime.n_vocab: Input should be a valid integer", "runtime.spin: unknown key",
                     "runtime.eog_token_ids: required key is missing", "created_with: required key is missing",
                     "colour: unknown key"):
        assert sum(line.strip().startswith(expected) for line in lines) == 1, (expected, lines)
    assert lines[-1] == "re-export the bundle with `edgesplit export onnx SRC OUT`"


def test_manifest_without_a_format_still_lists_its_other_problems(tmp_path):
    bad = {k: v for k, v in COMMON.items() if k != "architecture"} | {"schema_version": 2, "colour": "blue"}
    with pytest.raises(BundleIntegrityError) as err:
        read_manifest(_bundle(tmp_path, bad))
    msg = str(err.value)
    assert "format: required key is missing" in msg and "architecture: required key is missing" in msg
    assert "colour: unknown key" in msg


def test_a_thousand_bad_keys_give_a_bounded_message(tmp_path):
    bad = {**V1_GGUF, "schema_version": 2, **{f"k{i}": 1 for i in range(1000)}}
    with pytest.raises(BundleIntegrityError) as err:
        read_manifest(_bundle(tmp_path, bad))
    assert "problems" in str(err.value) and "more" in str(err.value) and len(str(err.value)) < 5000


def test_newer_schema_asks_to_upgrade(tmp_path):
    with pytest.raises(ModelFormatError, match="upgrade edgesplit"):
        read_manifest(_bundle(tmp_path, {**V1_GGUF, "schema_version": 3, "whatever": {}}))


def test_onnx_manifest_without_attention_reads_as_traced_and_a_wrong_value_is_listed(tmp_path):
    """Bundles written before `attention` existed were all traced by optimum."""
    old = {**COMMON, "schema_version": 2, "format": "onnx", "files": {"model.onnx": DIGEST}, "runtime": ONNX_RUNTIME}
    assert read_manifest(_bundle(tmp_path, old)).attention == "traced"
    assert read_manifest(_bundle(tmp_path, {**old, "attention": "fused"}, "fused")).attention == "fused"
    with pytest.raises(BundleIntegrityError, match="attention"):
        read_manifest(_bundle(tmp_path, {**old, "attention": "flash"}, "bad"))
