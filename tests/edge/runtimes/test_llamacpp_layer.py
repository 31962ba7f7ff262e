"""edge.runtimes.llamacpp: the quantization registry, KV types, quantize, vocab access and llama.cpp's log."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from edge.errors import EdgeError, ExportError, InvalidRequestError, ModelFormatError
from edge.runtimes import llamacpp
from edge.runtimes.llamacpp import GGML_FALLBACK, GGML_TYPE_IDS, KV_CACHE, QUANTS, QuantType
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[3]


def _ftype_names() -> dict[int, str]:
    lib = llamacpp.library()
    return {getattr(lib, n): n for n in dir(lib) if n.startswith("LLAMA_FTYPE_")}


@pytest.mark.parametrize("q", list(QUANTS.values()), ids=list(QUANTS))
def test_registry_round_trips_name_ftype_bits(q: QuantType) -> None:
    from gguf import GGML_QUANT_SIZES
    from gguf import GGMLQuantizationType as Q

    from edge.profiles import QUANT_BPW

    assert llamacpp.quant_type(q.name) is q and llamacpp.quant_for_ftype(q.ftype) is q
    # llama.h's own constant for this ftype spells the same name (LLAMA_FTYPE_MOSTLY_Q4_K_M <-> q4_k_m)
    assert _ftype_names()[q.ftype].endswith("_" + q.name.upper())
    block, size = GGML_QUANT_SIZES[Q[q.ggml]]
    layout = 8 * size / block
    assert q.bits >= layout and QUANT_BPW[q.name] == q.bits
    if "_k" not in q.name and q.name != "iq4_xs":  # not a mix: exactly its block layout
        assert q.bits == layout
    assert Q[q.fallback] is not None and (q.fallback == "F16" or q.ggml in GGML_FALLBACK)


def test_ggml_ids_are_ggmls() -> None:
    from gguf import GGMLQuantizationType as Q

    assert all(int(Q[name]) == i for name, i in GGML_TYPE_IDS.items())
    assert set(GGML_FALLBACK) | set(GGML_FALLBACK.values()) <= set(GGML_TYPE_IDS)


def test_unknown_name_lists_the_known_ones_and_duplicates_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as err:
        llamacpp.quant_type("q9_9")
    assert all(name in str(err.value) for name in QUANTS)
    with pytest.raises(ExportError, match="q4_k_m"):
        llamacpp.quant_type("q9_9", ExportError)
    with pytest.raises(ValueError, match="already registered"):
        llamacpp.register_quant(QuantType("q4_0", 2, "Q4_0", 4.5))
    assert llamacpp.quant_for_ftype(1024) is None


def test_kv_map_covers_every_kv_type_and_each_loads(default_gguf: Path) -> None:
    from gguf import GGML_QUANT_SIZES
    from gguf import GGMLQuantizationType as Q

    from edge.options import KV_TYPES
    from edge.profiles import KV_BYTES, Runtime

    # profiles spell the kv types as a pydantic Literal: it must list the same ones
    assert set(typing.get_args(Runtime.model_fields["kv_type"].annotation)) == set(KV_CACHE) == set(KV_TYPES)
    assert set(KV_BYTES) == set(KV_CACHE)
    for name, kv in KV_CACHE.items():
        block, size = GGML_QUANT_SIZES[Q[name.upper()]]  # the names are ggml's, lower-cased
        assert llamacpp.kv_ggml_type(name) == int(Q[name.upper()]) and kv.bytes_per_value == size / block
        with llamacpp.loaded(default_gguf, n_ctx=32, kv_type=name, flash_attn=kv.needs_flash_attn) as llm:
            llm.eval(llm.tokenize(b"Hello", add_bos=True))
            assert llamacpp.last_logits(llm).shape == (llm.n_vocab(),)
    with pytest.raises(InvalidRequestError, match="q8_0"):
        llamacpp.kv_ggml_type("q3")


def test_quantize_default_model_loads_and_reports_its_type(default_gguf: Path, tmp_path: Path) -> None:
    out = tmp_path / "q8.gguf"
    with pytest.raises(EdgeError, match="requantizing"):  # llama.cpp's own reason, from its log
        llamacpp.quantize(default_gguf, out, "q8_0", threads=2)
    llamacpp.quantize(default_gguf, out, "q8_0", threads=2, allow_requantize=True)
    assert llamacpp.file_quant(out) == "q8_0" and llamacpp.file_quant(default_gguf) == "q4_1"
    with llamacpp.loaded(out, n_ctx=64, threads=2) as llm:
        vocab = llamacpp.Vocab(llm)
        ids = llm.tokenize(b"The capital of France is", add_bos=True)
        tok = next(iter(llm.generate(ids, temp=0.0, top_k=1)))
        assert 0 <= tok < vocab.size == llm.n_vocab() and not vocab.is_eog(tok) and vocab.piece(tok)


def test_vocab_knows_end_of_generation(default_gguf: Path) -> None:
    with llamacpp.vocab_only(default_gguf) as llm:
        vocab = llamacpp.Vocab(llm)
        eos = llm.token_eos()
        assert vocab.is_eog(eos) and not vocab.is_eog(llm.tokenize(b"Paris", add_bos=False)[0])
        assert vocab.piece(llm.tokenize(b" Paris", add_bos=False)[0]) == b" Paris"


def test_load_errors_are_typed_and_say_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + bytes(64))
    with pytest.raises(ModelFormatError, match=r"bad\.gguf.*invalid magic"):
        llamacpp.open_model(bad)
    with pytest.raises(ModelFormatError, match="does not exist"):
        llamacpp.open_model(tmp_path / "missing.gguf")


_QUANTIZE_AND_LOAD = """
import sys
from pathlib import Path
from edge.models import default_model_path
from edge.runtimes import llamacpp
out = Path(sys.argv[1])
llamacpp.quantize(default_model_path(), out, "q8_0", threads=1, allow_requantize=True)
with llamacpp.loaded(out, n_ctx=64) as llm:
    llm.eval(llm.tokenize(b"Hi", add_bos=True))
"""


def _run(code: str, *args: str, verbose: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != llamacpp.VERBOSE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if verbose is not None:
        env[llamacpp.VERBOSE_ENV] = verbose
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


def test_llama_cpp_logs_stay_off_stderr_unless_verbose(tmp_path: Path) -> None:
    """At the file-descriptor level: the quantizer and a load print nothing; verbose shows llama.cpp's lines."""
    quiet = _run(_QUANTIZE_AND_LOAD, str(tmp_path / "a.gguf"), verbose=None)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr[-2000:]
    loud = _run(_QUANTIZE_AND_LOAD, str(tmp_path / "b.gguf"), verbose="1")
    assert loud.returncode == 0
    assert "llama_model_quantize_impl" in loud.stderr and "llama_context" in loud.stderr


def test_cli_verbose_flag_turns_the_log_on() -> None:
    quiet = run_cli("run", "-n", "2", "Hi", env={llamacpp.VERBOSE_ENV: ""})
    assert quiet.returncode == 0 and "llama_" not in quiet.stderr, quiet.stderr[-2000:]
    loud = run_cli("--verbose", "run", "-n", "2", "Hi", env={llamacpp.VERBOSE_ENV: ""})
    assert loud.returncode == 0 and "llama_context" in loud.stderr


def test_set_verbose_returns_the_previous_setting() -> None:
    previous = llamacpp.set_verbose(True)
    try:
        assert llamacpp.verbose() is True and llamacpp.set_verbose(False) is True and llamacpp.verbose() is False
    finally:
        llamacpp.set_verbose(previous)
