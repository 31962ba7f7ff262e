"""One logit-parity result type for GGUF and ONNX, reference first and candidate second."""

from __future__ import annotations

import numpy as np
import pytest

from edge.bundle import Parity
from edge.errors import ParityError
from export.gguf import parity as gguf_parity
from export.onnx import parity as onnx_parity
from export.parity_result import LogitParity, compare


def test_compare_takes_the_reference_first():
    ref = np.array([[4.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=np.float32)
    cand = np.array([[3.5, 0.0, 0.0, 9.0], [0.0, 0.0, 2.5, 9.0]], dtype=np.float32)  # a padded vocabulary
    result = compare(ref, cand)
    assert isinstance(result, LogitParity)
    assert result.n_tokens == 2 and result.top1_agreement == 0.5
    assert result.max_abs_logit_diff == pytest.approx(2.5)
    assert result.max_abs_reference_logit == 4.0  # from the reference, so swapping the arguments shows
    assert compare(cand[:, :3] * 2, ref).max_abs_reference_logit == 7.0


def test_both_formats_use_the_one_type_and_write_the_same_manifest_record():
    result = LogitParity(0.01, 0.95, 72, max_abs_reference_logit=20.0)
    gguf_record = gguf_parity.to_manifest(result, "pytorch:x", "q8_0")
    onnx_record = onnx_parity.check(result, "int8", "pytorch fp32 hf source")
    assert isinstance(gguf_record, Parity) and isinstance(onnx_record, Parity)
    assert (gguf_record.min_top1, onnx_record.min_top1) == (0.9, 0.9)
    assert LogitParity.from_manifest(onnx_record).as_dict() == result.as_dict()
    assert not hasattr(gguf_parity, "ParityResult") and not hasattr(onnx_parity, "Report")


def test_gguf_tolerance_is_relative_to_the_reference_scale_onnx_fp32_has_a_floor():
    result = LogitParity(0.5, 1.0, 30, max_abs_reference_logit=20.0)  # 0.5 <= 5e-2 * 20
    assert gguf_parity.passed(result, "f16")
    assert not gguf_parity.passed(LogitParity(0.5, 1.0, 30, max_abs_reference_logit=1.0), "f16")
    assert onnx_parity.passes(result, Parity(reference="r", max_abs_logit_diff=0, top1_agreement=1, n_tokens=1,
                                             tolerance=1.0, min_top1=0.9))
    # fp32: max(2e-3, 5e-4 x the reference's max |logit|), and the manifest records the bound met
    assert onnx_parity.check(LogitParity(0.01, 1.0, 72, max_abs_reference_logit=100.0), "fp32", "p").tolerance == 0.05
    assert onnx_parity.check(LogitParity(1e-3, 1.0, 72, max_abs_reference_logit=0.5), "fp32", "p").tolerance == 2e-3
    for diff, scale in ((0.06, 100.0), (3e-3, 1.0)):
        with pytest.raises(ParityError, match="fp32 ONNX logits differ"):
            onnx_parity.check(LogitParity(diff, 1.0, 72, max_abs_reference_logit=scale), "fp32", "pytorch")
