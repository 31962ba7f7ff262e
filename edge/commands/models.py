"""`edgesplit models`: what is available locally."""

from __future__ import annotations

import click

from ..models import list_models, models_dir
from .options import echo_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def models(as_json):
    """List the models available on this device: the embedded default plus the bundles and .gguf
    files in the models directory ($EDGESPLIT_HOME/models, default ~/.edgesplit/models).

    \b
    Examples:
      edgesplit models
      EDGESPLIT_HOME=/data/edgesplit edgesplit models --json
    """
    rows = list_models()
    if as_json:
        echo_json(rows)
        return
    click.echo(f"{'NAME':<28} {'FORMAT':<6} {'QUANT':<10} {'SIZE':>9}  PATH")
    for r in rows:
        size = f"{r['size_mb']} MB" if r.get("size_mb") is not None else "-"
        click.echo(f"{r['name']:<28} {r.get('format') or '?':<6} {r.get('quantization') or '-':<10} {size:>9}  "
                   f"{r.get('path') or r.get('error')}")
    click.echo(f"(models directory: {models_dir()})", err=True)
