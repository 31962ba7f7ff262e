"""The prompt cache on the real default model (llama.cpp): hits, alternation, disk, equal output.

Hits are read from the process-wide counters (`edge.prompt_cache.totals()`), never from timings.
"""

from __future__ import annotations

import pytest

from edge import Engine
from edge.options import RuntimeOptions
from edge.prompt_cache import DiskStore, disk_root, totals
from edge.prompt_cache.disk import read_header

RULES = " ".join(f"Rule {i}: the {w} field holds the {w} of item {i} and is never empty."
                 for i, w in enumerate(["name", "date", "price", "colour", "size", "owner"] * 4))


def _fixed(tag: str) -> str:
    """A raw-text prompt prefix of ~300 tokens; `tag` first, so it shares no token with other tests."""
    return f"{tag} manual.\n{RULES}\n"


def _ask(engine: Engine, prompt: str):
    return engine.generate(prompt, max_tokens=8, temperature=0.0)


def _delta(before, after, name: str) -> int:
    return getattr(after, name) - getattr(before, name)


def test_alternating_two_long_prompts_keeps_both_cached(default_engine):
    app, chat = _fixed("Quokka"), _fixed("Narwhal")
    _ask(default_engine, app + "Question: what does rule 2 say?\nAnswer:")
    _ask(default_engine, chat + "User: hello there\nAssistant:")
    before = totals()
    r1 = _ask(default_engine, app + "Question: what does rule 5 say?\nAnswer:")
    mid = totals()
    r2 = _ask(default_engine, chat + "User: how are you\nAssistant:")
    after = totals()
    assert _delta(before, mid, "memory_hits") == 1 and mid.last_reused >= r1.prompt_tokens - 20
    assert _delta(mid, after, "memory_hits") == 1 and after.last_reused >= r2.prompt_tokens - 20


def test_a_cache_hit_gives_the_same_greedy_output_and_a_cold_engine_hits_the_disk(default_engine):
    fixed = _fixed("Axolotl")
    first, second = fixed + "Question: what is rule 3?\nAnswer:", fixed + "Question: what is rule 9?\nAnswer:"
    with Engine.load("default", options=RuntimeOptions(prompt_cache="off")) as plain:
        _ask(plain, first)
        expected = _ask(plain, second).text  # llama.cpp's own KV reuse of the shared prefix

    _ask(default_engine, first)
    _ask(default_engine, _fixed("Pangolin") + "Unrelated text that pushes the first prompt out.")
    before = totals()
    got = _ask(default_engine, second)
    after = totals()
    assert _delta(before, after, "memory_hits") == 1  # restored from the LRU, not recomputed
    assert got.text == expected
    assert _delta(before, after, "disk_writes") == 1  # two prompts shared a long prefix: it is fixed
    files = DiskStore(disk_root(), 1 << 40).files()
    assert len(files) == 1

    with Engine.load("default") as cold:  # a fresh engine, as a new process would load it
        before = totals()
        again = _ask(cold, second)
        after = totals()
    assert _delta(before, after, "disk_hits") == 1 and after.last_reused >= got.prompt_tokens - 20
    assert again.text == expected


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_cache_file_is_rebuilt_not_loaded(default_engine, damage):
    fixed = _fixed(f"Okapi{damage}")
    _ask(default_engine, fixed + "Question: first?\nAnswer:")
    _ask(default_engine, fixed + "Question: second?\nAnswer:")  # writes the shared prefix to disk
    (path,) = DiskStore(disk_root(), 1 << 40).files()
    data = bytearray(path.read_bytes())
    data = data[: len(data) // 2] if damage == "truncate" else data[:-64] + bytes(b ^ 0x5A for b in data[-64:])
    path.write_bytes(bytes(data))

    with Engine.load("default") as cold:
        before = totals()
        answer = _ask(cold, fixed + "Question: third?\nAnswer:")
        after = totals()
        assert _delta(before, after, "disk_hits") == 0 and _delta(before, after, "disk_writes") == 1
        assert answer.completion_tokens > 0
    store = DiskStore(disk_root(), 1 << 40)
    (path,) = store.files()  # the same prefix, written again
    with path.open("rb") as f:
        head = read_header(f)
    assert store.best(head.fingerprint, [*head.tokens, 0], min_tokens=1) is not None  # checksum holds
