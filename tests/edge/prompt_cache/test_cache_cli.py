"""`edgesplit cache list|clear` through the real entry point."""

from __future__ import annotations

import json

from edge.prompt_cache import DiskStore, disk_root
from edge.prompt_cache.keys import fingerprint
from tests.conftest import run_cli

FP = fingerprint("a" * 64, "llamacpp", {"kv_type": "f16"})


def test_list_shows_entries_and_clear_removes_them():
    store = DiskStore(disk_root(), 1 << 30)
    store.write(FP, list(range(200)), b"x" * 1000, {"model": "default", "backend": "llamacpp", "kv_type": "f16"})
    broken = store.path_for(FP, [1, 2, 3])
    broken.write_bytes(b"not a cache file")

    p = run_cli("cache", "list", "--json")
    assert p.returncode == 0, p.stderr
    rows = sorted(json.loads(p.stdout), key=lambda r: r["tokens"] is None)
    assert rows[0]["tokens"] == 200 and rows[0]["model"] == "default" and "error" in rows[1]
    text = run_cli("cache", "list").stdout
    assert "200 tokens" in text and "2 entries" in text

    p = run_cli("cache", "clear")
    assert p.returncode == 0 and "removed 2" in p.stdout
    assert store.files() == [] and "no cached prompts" in run_cli("cache", "list").stdout


def test_help_is_the_docstring():
    p = run_cli("cache", "--help")
    assert p.returncode == 0 and "edgesplit cache list" in p.stdout and "EDGESPLIT_PROMPT_CACHE" in p.stdout
