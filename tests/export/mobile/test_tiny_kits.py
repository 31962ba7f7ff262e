"""Companion kits of a tiny random decoder, each loaded by the real runtime it targets (fp32 and int4)."""

from __future__ import annotations

import json
import shutil

import pytest

from export.mobile.manifest import read_kit_manifest
from export.mobile.verify import verify_kit
from tests.conftest import run_cli

QUANTS = ["fp32", "int4"]
LAYOUT = {
    "ort-genai": ["genai_config.json", "model.onnx", "tokenizer.json", "tokenizer_config.json"],
    "transformers-js": ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"],
    "ort-mobile": ["model.ort", "required_operators.config", "tokenizer.json"],
    "llama-cpp": ["llama-settings.json"],
}


def _agrees(report: dict) -> None:
    assert report["hashes_ok"], report
    golden = report["golden"]
    assert "skipped" not in golden, golden
    assert golden["passed"], json.dumps(golden, indent=1)
    assert all(c["tokens_equal"] for c in golden["per_case"])


@pytest.mark.parametrize("quant", QUANTS)
def test_every_kit_has_its_runtime_layout_and_a_true_manifest(tiny_kits, quant):
    out = tiny_kits(quant)
    for target, files in LAYOUT.items():
        kit = out / target
        manifest = read_kit_manifest(kit)
        assert manifest.target == target and manifest.quantization in (quant, "f32", "q4_0")
        assert set(files) <= set(manifest.files), (target, sorted(manifest.files))
        for name, entry in manifest.files.items():
            assert (kit / name).stat().st_size == entry.size
        assert manifest.context_length == 256  # the tiny model's trained context, under the profile's 2048
        assert manifest.ram_needed_mb > 0 and manifest.profile["name"] == "android-arm64-cpu"
        assert manifest.special_tokens["eog_token_ids"] and "<|im_start|>" in manifest.chat_template
        golden = json.loads((kit / "golden.json").read_text())
        assert len(golden["cases"]) >= 3 and all(c["output_ids"] for c in golden["cases"])
        assert len({t for c in golden["cases"] for t in c["output_ids"]}) >= 5  # not one repeated token
    tjs = out / "transformers-js"
    suffix = {"fp32": "", "int4": "_q4"}[quant]
    assert (tjs / "onnx" / f"model{suffix}.onnx").is_file()
    assert json.loads((tjs / "tokenizer_config.json").read_text())["chat_template"]
    genai = json.loads((out / "ort-genai" / "genai_config.json").read_text())["model"]
    assert genai["type"] == "llama" and genai["context_length"] == 256
    assert genai["decoder"]["num_key_value_heads"] == 2 and genai["decoder"]["head_size"] == 16
    assert "position_ids" not in genai["decoder"]["inputs"]  # the tiny llama's bundle is fused-attention
    search = json.loads((out / "ort-genai" / "genai_config.json").read_text())["search"]
    assert search["past_present_share_buffer"] is True  # GroupQueryAttention writes K/V in place


@pytest.mark.parametrize("quant", QUANTS)
def test_ort_genai_greedy_equals_the_golden_file(tiny_kits, quant):
    pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai has no wheel for this platform")
    _agrees(verify_kit(tiny_kits(quant) / "ort-genai"))


@pytest.mark.parametrize("quant", QUANTS)
def test_transformers_js_tokenizes_and_decodes_like_the_golden_file(tiny_kits, quant):
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the transformers.js kit cannot be loaded here")
    report = verify_kit(tiny_kits(quant) / "transformers-js")
    _agrees(report)  # node present: a missing @huggingface/transformers fails here (run scripts/setup.sh)
    assert all(c.get("template_equal") for c in report["golden"]["per_case"][:3])  # chat prompts


@pytest.mark.parametrize("quant", QUANTS)
def test_ort_mobile_graph_equals_the_golden_file(tiny_kits, quant):
    _agrees(verify_kit(tiny_kits(quant) / "ort-mobile"))


@pytest.mark.parametrize("quant", QUANTS)
def test_llama_cpp_kit_from_its_settings_equals_the_golden_file(tiny_kits, quant):
    _agrees(verify_kit(tiny_kits(quant) / "llama-cpp"))


def test_a_tampered_kit_file_fails_verify(tiny_kits, tmp_path):
    for target, name in (("ort-genai", "genai_config.json"), ("llama-cpp", "llama-settings.json")):
        kit = tmp_path / target
        shutil.copytree(tiny_kits("fp32") / target, kit)
        path = kit / name
        path.write_text(path.read_text().replace("256", "257", 1))
        report = verify_kit(kit)
        assert not report["hashes_ok"] and not report["passed"] and name in report["error"]
        r = run_cli("verify", str(kit))
        assert r.returncode == 1 and "BAD" in r.stdout, r.stdout + r.stderr


def test_a_changed_golden_continuation_fails_verify(tiny_kits, tmp_path):
    """The replay is what passes the kit: a golden file the runtime does not reproduce fails."""
    from export.mobile.manifest import hash_files, write_kit_manifest

    kit = tmp_path / "ort-mobile"
    shutil.copytree(tiny_kits("fp32") / "ort-mobile", kit)
    golden = json.loads((kit / "golden.json").read_text())
    case = golden["cases"][0]
    case["output_ids"][3] = (case["output_ids"][3] + 1) % 512
    case["margins"][3] = 5.0  # a clear choice, not a near-tie
    (kit / "golden.json").write_text(json.dumps(golden))
    manifest = read_kit_manifest(kit)
    write_kit_manifest(kit, manifest.model_copy(update={"files": hash_files(kit)}))
    report = verify_kit(kit)
    assert report["hashes_ok"] and not report["passed"]
    assert report["golden"]["per_case"][0]["first_difference"]["step"] == 3


def test_verify_of_the_kits_folder_checks_every_kit(tiny_kits):
    r = run_cli("verify", str(tiny_kits("fp32")), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(k["target"] for k in json.loads(r.stdout)) == sorted(LAYOUT)


def test_without_target_a_gguf_gets_the_kits_it_feeds(kit_models, tmp_path):
    out = tmp_path / "kits"
    r = run_cli("export", "mobile", str(kit_models("fp32")[1]), str(out), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["target"] for row in rows] == ["llama-cpp"] and rows[0]["size_mb"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["llama-cpp"]
