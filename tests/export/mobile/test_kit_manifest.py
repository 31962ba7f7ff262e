"""A kit manifest that is not one edgesplit wrote is a one-line error, never a traceback."""

from __future__ import annotations

import pytest

from export.mobile.manifest import KIT_MANIFEST
from tests.conftest import run_cli


@pytest.mark.parametrize("body", ["{", "[]", '{"target": "ort-genai"}', "[" * 100_000, '{"files": 1}'])
def test_a_broken_kit_manifest_is_refused_in_one_line(tmp_path, body):
    (tmp_path / KIT_MANIFEST).write_text(body)
    r = run_cli("verify", str(tmp_path), timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "not a kit manifest" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_an_entry_outside_the_kit_is_refused(tmp_path):
    from edge.errors import BundleIntegrityError
    from export.mobile.manifest import KitFile, KitManifest, verify_kit_files

    manifest = KitManifest(target="llama-cpp", runtime="llama.cpp", model="m", architecture="llama",
                           quantization="q4_0", context_length=16, ram_needed_mb=1.0, memory={}, profile={},
                           chat_template=None, special_tokens={}, golden="golden.json",
                           files={"../outside": KitFile(sha256="0" * 64, size=1)}, created_with="test")
    with pytest.raises(BundleIntegrityError, match="outside the kit"):
        verify_kit_files(tmp_path, manifest)
