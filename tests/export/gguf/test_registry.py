"""The architecture registry: completeness, refusals, clear errors."""

from __future__ import annotations

import pytest

from edge.errors import ExportError, UnsupportedArchitectureError
from export.gguf.registry import Arch, arch_for, register, supported
from tests.export.gguf.conftest import TINY


def test_every_registered_architecture_has_a_tiny_fixture() -> None:
    assert set(supported()) == set(TINY)


def test_unknown_architecture_lists_supported_ones() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="LlamaForCausalLM") as err:
        arch_for({"architectures": ["GPTNeoXForCausalLM"]})
    assert "T5ForConditionalGeneration" in str(err.value)


def test_bart_is_onnx_only() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="ONNX-only.*export onnx"):
        arch_for({"architectures": ["BartForConditionalGeneration"]})


def test_missing_architectures_key() -> None:
    with pytest.raises(ExportError, match="architectures"):
        arch_for({"model_type": "llama"})


def test_duplicate_registration_is_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("LlamaForCausalLM")(Arch)


def test_bitnet_relu2_is_refused_with_the_reason() -> None:
    config = TINY["BitNetForCausalLM"]().to_dict() | {"hidden_act": "relu2", "architectures": ["BitNetForCausalLM"]}
    with pytest.raises(ExportError, match="SiLU-gated"):
        arch_for(config)


def test_gemma3_settings_llama_cpp_cannot_follow_are_refused() -> None:
    config = TINY["Gemma3ForCausalLM"]().to_dict() | {"architectures": ["Gemma3ForCausalLM"],
                                                      "query_pre_attn_scalar": 64}
    with pytest.raises(ExportError, match="query_pre_attn_scalar"):
        arch_for(config)


def test_bitnet_both_namings_map_to_the_same_gguf_names() -> None:
    config = TINY["BitNetForCausalLM"]().to_dict()
    new = arch_for(config | {"architectures": ["BitNetForCausalLM"]})
    old = arch_for(config | {"architectures": ["BitnetForCausalLM"]})
    assert new.tensor_name("model.layers.1.self_attn.attn_sub_norm.weight") == "blk.1.attn_sub_norm.weight"
    assert old.tensor_name("model.layers.1.self_attn.inner_attn_ln.weight") == "blk.1.attn_sub_norm.weight"
    assert new.tensor_name("model.layers.0.mlp.ffn_sub_norm.weight") == "blk.0.ffn_sub_norm.weight"
    assert old.tensor_name("model.layers.0.mlp.ffn_layernorm.weight") == "blk.0.ffn_sub_norm.weight"
