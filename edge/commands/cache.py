"""`edgesplit cache list|clear`: the persistent prompt cache under $EDGESPLIT_HOME/cache/prompts."""

from __future__ import annotations

import click

from ..prompt_cache import DiskStore, Limits, disk_root
from .options import echo_json


def _store() -> DiskStore:
    return DiskStore(disk_root(), Limits().disk_bytes)


@click.group()
def cache() -> None:
    """The prompt cache: saved KV states of long fixed prompt prefixes (an app's rules and doc).

    A prefix of at least 128 tokens goes to disk once two prompts share it (also two prompts in
    different processes); later processes then skip its prefill. Entries are keyed by model file hash, backend and KV options, bounded to
    512 MB (least recently used go first). Set EDGESPLIT_PROMPT_CACHE=memory or off to disable it.

    \b
    Examples:
      edgesplit cache list
      edgesplit cache clear
    """


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_(as_json: bool) -> None:
    """List the saved prefixes: model, tokens, size and when each was last used.

    \b
    Examples:
      edgesplit cache list
      edgesplit cache list --json
    """
    store = _store()
    rows = store.entries()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no cached prompts in {store.root}")
        return
    for r in rows:
        what = r.get("error") or f"{r.get('model', '?')} {r.get('backend', '?')} kv={r.get('kv_type', '?')}"
        click.echo(f"{r['file']}  {r['tokens'] or '-':>6} tokens  {r['bytes'] / 1e6:8.1f} MB  {r['last_used']}  {what}")
    click.echo(f"{len(rows)} entries, {sum(r['bytes'] for r in rows) / 1e6:.1f} MB in {store.root}")


@cache.command()
def clear() -> None:
    """Delete every saved prefix (they are rebuilt on demand).

    \b
    Examples:
      edgesplit cache clear
    """
    store = _store()
    click.echo(f"removed {store.clear()} cached prompts from {store.root}")
