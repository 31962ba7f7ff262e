"""Hardware profiles: strict parsing, detection, the memory guard and the `profiles` CLI."""

import json
import platform
import re

import pytest

from edge.errors import MemoryBudgetError, ProfileError
from edge.models import resolve
from edge.options import RuntimeOptions
from edge.profiles import (
    QUANT_BPW,
    Host,
    apply_profile,
    detect,
    kv_cache_bytes,
    list_profiles,
    load_profile,
    model_facts,
    parse_profile,
)
from tests.conftest import run_cli

REQUIRED = {"laptop-x86-avx2", "laptop-x86-avx512", "apple-m-series", "raspberry-pi-4", "raspberry-pi-5",
            "android-arm64-cpu", "android-npu-qnn", "android-nnapi", "ios-coreml", "generic-low-mem"}

MINIMAL = """name = "{name}"
description = "test"
quantization = ["q4_0"]
memory_budget_mb = 512
"""


def _write(tmp_path, text, name="board"):
    path = tmp_path / f"{name}.toml"
    path.write_text(MINIMAL.format(name=name) + text)
    return path


def test_every_shipped_profile_parses_and_resolves():
    profiles = {p.name: p for p in list_profiles()}
    assert REQUIRED <= set(profiles)
    for p in profiles.values():
        opts = p.runtime_options()
        assert opts.n_threads >= 1 and opts.n_ctx == p.runtime.n_ctx and opts.kv_type == p.runtime.kv_type
        assert opts.execution_providers[-1] == "CPU"
        assert p.source is not None and p.source.name == f"{p.name}.toml"
        assert p.source.read_text().lstrip().startswith("#")  # values are reasoned in comments


@pytest.mark.parametrize("body,key", [
    ("[runtime]\nn_thread = 4\n", "runtime.n_thread"),
    ("colour = 'red'\n", "colour"),
    ("[runtime]\nkv_type = 'q3'\n", "runtime.kv_type"),
    ("[runtime]\nthreads = 'physical+1'\n", "runtime.threads"),
    ("[runtime]\nthreads = 0\n", "runtime.threads"),
    ("[runtime]\nflash_attn = 'yes'\n", "runtime.flash_attn"),
    ("[match]\nmin_cores = -1\n", "match.min_cores"),
    ("execution_providers = ['QNN']\n", "execution_providers"),
    ("backend = 'tensorrt'\n", "backend"),
])
def test_unknown_key_or_bad_value_names_file_and_key(tmp_path, body, key):
    path = _write(tmp_path, body)
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    assert str(path) in str(exc.value) and key in str(exc.value)


def test_bad_quantization_and_name_mismatch_and_bad_toml(tmp_path):
    bad = tmp_path / "q.toml"
    bad.write_text(MINIMAL.format(name="q").replace('"q4_0"', '"q3_xs"'))
    with pytest.raises(ProfileError, match=r"q\.toml: quantization.*q3_xs"):
        parse_profile(bad)
    other = _write(tmp_path, "", name="board").rename(tmp_path / "other.toml")
    with pytest.raises(ProfileError, match="other.toml: name"):
        parse_profile(other)
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(ProfileError, match="broken.toml: invalid TOML"):
        parse_profile(broken)
    with pytest.raises(ProfileError, match="unknown profile 'nope'.*raspberry-pi-5"):
        load_profile("nope")


def test_profile_lists_unknown_missing_and_mistyped_keys_together(tmp_path):
    path = tmp_path / "board.toml"  # no memory_budget_mb, a misspelt key, a string for a bool, a bad type
    path.write_text('name = "board"\ndescription = "t"\nquantization = ["q4_0"]\ncolour = "red"\n'
                    '[runtime]\nflash_attn = "yes"\nn_thread = 4\nkv_type = "q3"\n')
    with pytest.raises(ProfileError) as exc:
        parse_profile(path)
    lines = str(exc.value).splitlines()
    assert lines[0] == f"{path}: 5 problems:"
    for expected in ("memory_budget_mb: required key is missing", "colour: unknown key: remove it",
                     "runtime.n_thread: unknown key", "runtime.flash_attn: Input should be a valid boolean",
                     "runtime.kv_type: Input should be"):
        assert sum(line.strip().startswith(expected) for line in lines) == 1, (expected, lines)


def test_ort_spinning_is_a_typed_option_set_by_a_profile(tmp_path):
    import dataclasses

    assert "extra" not in {f.name for f in dataclasses.fields(RuntimeOptions)}
    with pytest.raises(TypeError):
        RuntimeOptions(extra={"ort_spinning": True})  # type: ignore[call-arg]
    assert load_profile("laptop-x86-avx2").runtime_options().ort_spinning is False
    spin = load_profile(_write(tmp_path, "[runtime]\nort_spinning = true\n"))
    assert spin.runtime_options().ort_spinning is True
    with pytest.raises(ProfileError, match="runtime.ort_spinning"):
        load_profile(_write(tmp_path, "[runtime]\nort_spinning = 'yes'\n", name="b2"))


def test_threads_relative_to_physical_cores(tmp_path):
    prof = load_profile(_write(tmp_path, "[runtime]\nthreads = 'physical-1'\n"))
    assert prof.threads_for(cores=4) == 3 and prof.threads_for(cores=1) == 1
    assert load_profile("raspberry-pi-5").threads_for(cores=16) == 4


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 host only")
def test_detection_picks_an_x86_laptop_profile_here():
    d = detect()
    assert d.profile.name.startswith("laptop-x86-")
    assert any(r.startswith("ok: cpu flags") for r in d.reasons)
    flags = d.host.cpu_flags
    assert d.profile.name == ("laptop-x86-avx512" if "avx512f" in flags and d.host.ram_mb >= 8192 else "laptop-x86-avx2")


@pytest.mark.parametrize("host,expected", [
    (Host("aarch64", "linux", frozenset({"asimd", "asimddp", "fphp"}), 4, 4, 8000, "Raspberry Pi 5 Model B Rev 1.0"),
     "raspberry-pi-5"),
    (Host("aarch64", "linux", frozenset({"asimd"}), 4, 4, 3800, "Raspberry Pi 4 Model B Rev 1.4"), "raspberry-pi-4"),
    (Host("aarch64", "android", frozenset({"asimd"}), 8, 8, 7500, "Qualcomm Technologies, Inc SM8550"),
     "android-npu-qnn"),
    (Host("aarch64", "android", frozenset({"asimd"}), 8, 8, 5500, "MT6877"), "android-arm64-cpu"),
    (Host("aarch64", "darwin", frozenset(), 8, 8, 16384, "Apple M2"), "apple-m-series"),
    (Host("x86_64", "linux", frozenset({"avx2", "fma", "f16c"}), 4, 8, 16000, "Intel Core i7"), "laptop-x86-avx2"),
    (Host("riscv64", "linux", frozenset(), 4, 4, 4096, "SiFive"), "generic-low-mem"),
    (Host("x86_64", "linux", frozenset({"avx2", "fma", "f16c"}), 2, 2, 1024, "Atom"), "generic-low-mem"),
])
def test_detection_rules(host, expected):
    d = detect(host)
    assert d.profile.name == expected, d.candidates[:3]
    assert d.reasons


def test_kv_cache_formula(default_gguf):
    facts = model_facts(resolve(str(default_gguf)))
    assert (facts.n_layers, facts.n_kv_heads, facts.head_dim_k) == (30, 3, 64)
    # n_layers × 2 (K and V) × n_ctx × n_kv_heads × head_dim × 2 bytes (f16)
    assert kv_cache_bytes(facts, 2048, "f16") == 30 * 2 * 2048 * 3 * 64 * 2
    assert kv_cache_bytes(facts, 10**6, "f16") == kv_cache_bytes(facts, 8192, "f16")  # capped at n_ctx_train


def test_memory_guard_refuses_default_model_on_64mb_and_names_a_quant_that_fits():
    ref = resolve("default")
    tiny = load_profile("generic-low-mem").model_copy(update={"memory_budget_mb": 64})
    with pytest.raises(MemoryBudgetError) as exc:
        apply_profile(tiny, ref, None)
    msg = str(exc.value)
    assert "64 MB" in msg and "default" in msg
    quant = re.search(r"a (\w+) quantization", msg).group(1)
    facts, opts = model_facts(ref), tiny.runtime_options()
    kv = kv_cache_bytes(facts, opts.n_ctx, opts.kv_type)
    assert facts.n_params * QUANT_BPW[quant] / 8 + kv <= 64 * 2**20  # the suggestion really fits
    assert facts.weights_bytes + kv > 64 * 2**20


def test_memory_guard_when_nothing_fits_says_to_shrink_the_context():
    tiny = load_profile("generic-low-mem").model_copy(update={"memory_budget_mb": 16})
    with pytest.raises(MemoryBudgetError, match="no quantization fits.*--ctx"):
        apply_profile(tiny, resolve("default"), RuntimeOptions(n_ctx=8192, kv_type="f32"))


def test_apply_profile_options_and_backend_choice():
    prof, opts = apply_profile("raspberry-pi-5", None, None)
    assert (opts.n_threads, opts.n_ctx, opts.n_batch) == (4, 2048, 256)
    assert apply_profile("raspberry-pi-5", resolve("default"), None)[0].name == "raspberry-pi-5"
    given = RuntimeOptions(n_threads=1)
    assert apply_profile(prof, None, given)[1] is given
    assert prof.backend_for("gguf") == "llamacpp"
    assert load_profile("android-npu-qnn").backend_for("gguf") is None  # gguf falls back to llama.cpp
    assert load_profile("android-npu-qnn").backend_for("onnx") == "onnxruntime"


def test_profiles_cli(tmp_path):
    p = run_cli("profiles", "list", "--json")
    assert p.returncode == 0, p.stderr
    assert REQUIRED <= {r["name"] for r in json.loads(p.stdout)}
    p = run_cli("profiles", "show", "raspberry-pi-4", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["runtime"]["threads"] == 4
    p = run_cli("profiles", "detect", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["profile"] in {p.name for p in list_profiles()}
    bad = _write(tmp_path, "[runtime]\nn_thread = 4\n")
    p = run_cli("profiles", "show", str(bad))
    assert p.returncode == 2 and "runtime.n_thread" in p.stderr and "Traceback" not in p.stderr


def test_run_refuses_over_budget_before_loading(tmp_path):
    path = _write(tmp_path, "[runtime]\nn_ctx = 512\n").read_text().replace("memory_budget_mb = 512",
                                                                           "memory_budget_mb = 64")
    (tmp_path / "board.toml").write_text(path)
    p = run_cli("run", "--profile", str(tmp_path / "board.toml"), "-n", "4", "Hi")
    assert p.returncode == 2 and "allows 64 MB" in p.stderr and "quantization" in p.stderr


def test_profiles_know_every_gguf_export_type():
    """A profile may name any type `export gguf` writes, and the memory guard can size it."""
    from export.gguf.cli import QUANT_CHOICES

    assert set(QUANT_CHOICES) <= set(QUANT_BPW)


@pytest.mark.parametrize("field", [{"n_batch": 0}, {"n_batch": -4}, {"n_ctx": 8}])
def test_runtime_options_refuse_sizes_llama_cpp_cannot_run(field: dict) -> None:
    from edge.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match=next(iter(field)).replace("n_ctx", "context length")):
        RuntimeOptions(**field)
