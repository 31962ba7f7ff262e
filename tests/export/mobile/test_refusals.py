"""What a target cannot load is refused by name, with the reason, and nothing is written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from export.mobile.base import TARGETS, TargetRefusedError, load_target
from export.mobile.kit import export_kits, kit_source
from tests.conftest import run_cli


def _nothing_at(out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]


@pytest.fixture(scope="module")
def tiny_source(kit_models):
    from edge import Engine

    with Engine.load(str(kit_models("fp32")[0])) as engine:
        yield kit_source(engine)


@pytest.mark.parametrize("target", ["ort-genai", "transformers-js", "llama-cpp", "ort-mobile"])
def test_every_target_refuses_an_encoder_decoder_with_its_reason(tiny_source, target):
    reason = load_target(target).refusal(replace(tiny_source, architecture="t5", encoder_decoder=True))
    assert reason and "encoder-decoder" in reason
    assert load_target(target).refusal(tiny_source) is None


def test_transformers_js_refuses_weights_it_has_no_dtype_for(tiny_source):
    reason = load_target("transformers-js").refusal(replace(tiny_source, quantization="ternary"))
    assert "ternary" in reason and "dtype" in reason


def test_ort_genai_refuses_an_architecture_it_has_no_model_type_for(tiny_source):
    assert "gemma2" in load_target("ort-genai").refusal(replace(tiny_source, architecture="gemma2"))


def test_a_gguf_target_without_a_gguf_is_refused_and_nothing_is_written(kit_models, tmp_path):
    out = tmp_path / "kits"
    r = run_cli("export", "mobile", str(kit_models("fp32")[0]), str(out), "--target", "ort-genai,llama-cpp")
    assert r.returncode == 2 and "target llama-cpp refused" in r.stderr and "--gguf" in r.stderr, r.stderr
    _nothing_at(out)


def test_an_unknown_target_is_named(kit_models, tmp_path):
    with pytest.raises(Exception, match="unknown kit target 'coreml'.*ort-genai"):
        export_kits(str(kit_models("fp32")[0]), tmp_path / "kits", ["coreml"])


def test_a_failure_while_writing_leaves_nothing(kit_models, tmp_path, monkeypatch):
    target = load_target("ort-mobile")

    def broken(source, kit, setup):
        (kit / "model.ort").write_bytes(b"half")
        raise TargetRefusedError("ort-mobile", "converter crashed")

    monkeypatch.setattr(target, "write", broken)
    out = tmp_path / "kits"
    with pytest.raises(TargetRefusedError):
        export_kits(str(kit_models("fp32")[0]), out, ["ort-genai", "ort-mobile"])
    _nothing_at(out)


@pytest.mark.slow
def test_a_real_encoder_decoder_bundle_is_refused_for_ort_genai(tmp_path, tiny_tokenizer_dir):
    from export.onnx.export import export_onnx
    from tests.export.onnx.conftest import build_checkpoint

    bundle = tmp_path / "t5"
    export_onnx(build_checkpoint("t5", tmp_path / "ckpt", tiny_tokenizer_dir), bundle)
    out = tmp_path / "kits"
    with pytest.raises(TargetRefusedError) as err:
        export_kits(str(bundle), out, ["transformers-js", "ort-genai"])
    assert err.value.target == "transformers-js" and "encoder-decoder" in err.value.reason
    with pytest.raises(TargetRefusedError, match="target ort-genai refused: .*encoder-decoder"):
        export_kits(str(bundle), out, ["ort-genai"])
    _nothing_at(out)


def test_the_registry_names_every_target_module():
    assert sorted(TARGETS) == ["llama-cpp", "ort-genai", "ort-mobile", "transformers-js"]
    for name in TARGETS:
        assert load_target(name).name == name
