"""edge.runtimes.onnxrt: every ONNX Runtime session is made the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.errors import InvalidRequestError, ModelFormatError
from edge.runtimes.onnxrt import make_session, session_options


@pytest.fixture(scope="module")
def identity_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    path = tmp_path_factory.mktemp("onnx") / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


@pytest.mark.parametrize("spinning", [False, True])
def test_session_has_the_threads_spinning_and_optimization_asked_for(identity_onnx: Path, spinning: bool) -> None:
    import onnxruntime as ort

    sess = make_session(identity_onnx, threads=3, spinning=spinning, optimization="basic")
    so = sess.get_session_options()
    assert (so.intra_op_num_threads, so.inter_op_num_threads) == (3, 1)
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == ("1" if spinning else "0")
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert sess.get_providers() == ["CPUExecutionProvider"]
    x = np.arange(4, dtype=np.float32)
    assert np.array_equal(sess.run(None, {"x": x})[0], x)


def test_defaults_are_no_spinning_and_full_optimization() -> None:
    import onnxruntime as ort

    so = session_options(threads=2)
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_bad_file_and_bad_option_are_typed_errors(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ModelFormatError, match="model.onnx.*re-export"):
        make_session(bad, threads=1)
    with pytest.raises(InvalidRequestError, match="extended"):
        session_options(threads=1, optimization="max")
