"""A tiny random Llama with a locally trained tokenizer and a few verified agent rows (no hub)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.export.conftest import CORPUS, train_bpe_tokenizer
from tests.export.gguf.conftest import _llama, save_checkpoint


@pytest.fixture(scope="session")
def agent_rows(tmp_path_factory) -> Path:
    """A dozen verified training rows (settings and notes), as `agent synth` writes them."""
    from apps.gui_agent.synth import generate, write_rows

    rows, _ = generate(["settings", "notes"], per_family=2, multi=2, seed=3)
    path = tmp_path_factory.mktemp("distill-data") / "rows.jsonl"
    write_rows(rows[:12], path)
    return path


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """2 layers x 32 wide, 4096 positions; the tokenizer also learnt the agent's prompts, so they fit
    the Engine's default context (2048) with repairs."""
    from apps.gui_agent.agent import build_messages
    from apps.gui_agent.sim import APPS, app_doc

    prompts = [build_messages(app_doc(app), "Turn it on")[0]["content"] for app in APPS]
    tok = train_bpe_tokenizer(tmp_path_factory.mktemp("distill-tok"), vocab_size=1024, corpus=CORPUS + prompts * 5)
    cfg = _llama(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1,
                 max_position_embeddings=4096, vocab_size=1024)
    return save_checkpoint(cfg, tmp_path_factory.mktemp("distill-llama") / "ckpt", tok)
