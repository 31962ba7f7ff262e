"""Model references and bad model files: clear errors, never a crashed process."""

import pytest

from edge import Engine
from edge.errors import BackendUnavailableError, ModelFormatError, ModelNotFoundError, UnknownBackendError
from edge.models import list_models, resolve


def test_default_resolves_to_the_packaged_gguf(default_gguf):
    ref = resolve("default")
    assert ref.path == default_gguf and ref.format == "gguf" and default_gguf.stat().st_size > 90e6


def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve(tmp_path / "nope.gguf")


def test_hub_id_gets_a_how_to_message():
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_not_a_gguf(tmp_path):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"hello world, not a model at all" * 10)
    with pytest.raises(ModelFormatError, match="not a GGUF"):
        Engine.load(p)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999, 64 / 98362432])
def test_truncated_gguf_is_refused_before_llama_cpp(tmp_path, default_gguf, keep):
    data = default_gguf.read_bytes()
    p = tmp_path / "cut.gguf"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFormatError, match="truncated|not a valid GGUF"):
        Engine.load(p)


def test_hf_checkpoint_dir_says_export_first(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelFormatError, match="export"):
        resolve(tmp_path)


def test_unknown_backend_lists_known_ones():
    with pytest.raises(UnknownBackendError, match="llamacpp"):
        Engine.load("default", backend="tensorrt")


def test_models_lists_default_and_local_gguf(tmp_path, default_gguf, _isolated_home):
    (_isolated_home / "models").mkdir()
    (_isolated_home / "models" / "mine.gguf").symlink_to(default_gguf)
    names = [r["name"] for r in list_models()]
    assert names[0] == "default" and "mine.gguf" in names
    assert resolve("mine.gguf").path.name == "mine.gguf"


def test_edge_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, edge, edge.engine, edge.cli; sys.exit('torch' in sys.modules or 'llama_cpp' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_backend_with_a_missing_package_names_the_extra(monkeypatch):
    from edge.backends import base

    monkeypatch.setitem(base._REGISTRY, "ghost", dict.fromkeys(base.MODEL_KINDS, "edge_no_such_module_xyz:Backend"))
    monkeypatch.setitem(base._EXTRAS, "ghost", "onnx")
    with pytest.raises(BackendUnavailableError, match=r"edge_no_such_module_xyz.*edgesplit\[onnx\]"):
        base.load_backend_class("ghost")
