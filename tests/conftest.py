"""Shared fixtures: an isolated EDGESPLIT_HOME for every test and one default-model Engine per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never read or write the user's ~/.edgesplit from a test."""
    home = tmp_path_factory.mktemp("edgesplit-home")
    monkeypatch.setenv("EDGESPLIT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def default_engine():
    """The embedded SmolLM2 on llama.cpp, loaded once: tests must not change its options."""
    from edge import Engine

    engine = Engine.load("default")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def default_gguf() -> Path:
    from edge.models import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def run_cli(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 300):
    """Run the real `edgesplit` entry point in a subprocess."""
    exe = Path(sys.executable).with_name("edgesplit")
    return subprocess.run([str(exe), *args], input=input, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
