"""fp32 ONNX vs PyTorch on tiny random models of every registered architecture."""

from __future__ import annotations

import numpy as np
import pytest

from export.onnx import get_arch, registered_archs

from .tiny_configs import TINY

ATOL = 1e-4
PROMPT_LEN = 20  # longer than the sliding window (8) of the tiny Gemma2/Gemma3
PAD = 5  # left padding of the second row


def test_every_registered_architecture_has_a_tiny_model():
    assert set(TINY) == set(registered_archs())


def _torch_model(path):
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    return get_arch(config).auto_class().from_pretrained(path, dtype="float32").eval()


def _batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(10, 500, size=(2, PROMPT_LEN))
    mask = np.ones((2, PROMPT_LEN), dtype=np.int64)
    ids[1, :PAD], mask[1, :PAD] = 0, 0
    return ids, mask


def _onnx(bundle, name):
    from edge.backends.onnxruntime import load_model
    from edge.bundle import read_manifest

    rt = read_manifest(bundle).runtime
    return load_model(bundle, encoder_decoder=get_arch({"model_type": name}).encoder_decoder,
                      decoder_start_token_id=rt.decoder_start_token_id or 0)


def _max_diff(ref, got, mask):
    return float(np.abs(ref - got)[mask.astype(bool)].max())


@pytest.mark.parametrize("name", [n for n in sorted(TINY) if not get_arch({"model_type": n}).encoder_decoder])
def test_decoder_prefill_and_cached_steps_batch2_left_padded(name, tiny_checkpoint, tiny_bundle):
    import torch

    model, onnx = _torch_model(tiny_checkpoint(name)), _onnx(tiny_bundle(name), name)
    ids, mask = _batch()
    logits, past = onnx.forward(ids, mask)
    pos = np.maximum(mask.cumsum(-1) - 1, 0)
    with torch.no_grad():
        ref = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                    position_ids=torch.tensor(pos)).logits.numpy()
    assert _max_diff(ref, logits, mask) <= ATOL
    for step in range(3):  # cached steps, checked against a full no-cache recompute
        nxt = logits[:, -1].argmax(-1)[:, None]
        ids, mask = np.concatenate([ids, nxt], 1), np.concatenate([mask, np.ones((2, 1), np.int64)], 1)
        logits, past = onnx.forward(nxt, mask, past)
        pos = np.maximum(mask.cumsum(-1) - 1, 0)
        with torch.no_grad():
            ref = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                        position_ids=torch.tensor(pos)).logits.numpy()[:, -1:]
        assert float(np.abs(ref - logits).max()) <= ATOL, f"cached step {step}"


@pytest.mark.parametrize("name", [n for n in sorted(TINY) if get_arch({"model_type": n}).encoder_decoder])
def test_encoder_decoder_prefill_and_cached_steps_batch2_left_padded(name, tiny_checkpoint, tiny_bundle):
    import torch

    model, onnx = _torch_model(tiny_checkpoint(name)), _onnx(tiny_bundle(name), name)
    ids, mask = _batch()
    dec = np.array([[model.config.decoder_start_token_id, 7, 9]] * 2)
    logits, past = onnx.forward(ids, mask, dec)
    kw = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
    with torch.no_grad():
        ref = model(**kw, decoder_input_ids=torch.tensor(dec)).logits.numpy()
    assert float(np.abs(ref - logits).max()) <= ATOL
    for step in range(3):
        nxt = logits[:, -1].argmax(-1)[:, None]
        dec = np.concatenate([dec, nxt], 1)
        logits, past = onnx.forward(None, None, nxt, past)
        with torch.no_grad():
            ref = model(**kw, decoder_input_ids=torch.tensor(dec)).logits.numpy()[:, -1:]
        assert float(np.abs(ref - logits).max()) <= ATOL, f"cached step {step}"


def test_parity_report_is_in_the_manifest_and_verify_remeasures_it(tiny_bundle):
    from edge.bundle import read_manifest
    from export.onnx.verify import verify_bundle

    bundle = tiny_bundle("llama")
    p = read_manifest(bundle).parity
    assert p is not None and p.n_tokens >= 64 and p.tolerance == 2e-3
    report = verify_bundle(bundle, read_manifest(bundle))  # the bundle's own logits, measured again
    assert report["passed"] and report["max_abs_logit_diff"] <= ATOL and report["top1_agreement"] == 1.0
