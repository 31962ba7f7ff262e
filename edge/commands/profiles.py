"""`edgesplit profiles list|show|detect`: the hardware profiles and which one fits this machine."""

from __future__ import annotations

from pathlib import Path

import click

from ..profiles import detect as detect_profile
from ..profiles import host_from_records, list_profiles, load_profile
from .options import echo_json


@click.group()
def profiles() -> None:
    """Hardware profiles: threads, backend, quantization, context and memory budget per device.

    \b
    Examples:
      edgesplit profiles list
      edgesplit profiles show raspberry-pi-5
      edgesplit profiles detect --json
      edgesplit run --profile raspberry-pi-5 "Hello"
    """


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_(as_json: bool) -> None:
    """List the shipped profiles and your own (in $EDGESPLIT_HOME/profiles).

    \b
    Examples:
      edgesplit profiles list
      edgesplit profiles list --json
    """
    rows = [{"name": p.name, "description": p.description, "backend": p.backend,
             "memory_budget_mb": p.memory_budget_mb, "path": str(p.source)} for p in list_profiles()]
    if as_json:
        echo_json(rows)
        return
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['description']}")


@profiles.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
def show(name: str, as_json: bool) -> None:
    """Show profile NAME (a name or a .toml path) and the runtime options it resolves to here.

    \b
    Examples:
      edgesplit profiles show laptop-x86-avx2
      edgesplit profiles show ./my-board.toml --json
    """
    prof = load_profile(name)
    opts = prof.runtime_options()
    data = {**prof.model_dump(), "path": str(prof.source),
            "resolved": {"n_threads": opts.n_threads, "n_ctx": opts.n_ctx, "kv_type": opts.kv_type}}
    if as_json:
        echo_json(data)
        return
    click.echo(f"{prof.name}: {prof.description}\n  file: {prof.source}")
    for key in ("backend", "quantization", "execution_providers", "memory_budget_mb"):
        click.echo(f"  {key}: {data[key]}")
    for section in ("runtime", "match", "device"):
        if data[section]:
            items = ", ".join(f"{k}={v}" for k, v in data[section].items() if v not in (None, []))
            click.echo(f"  {section}: {items}")
    click.echo(f"  on this machine: {opts.n_threads} threads")


@profiles.command()
@click.option("--json", "as_json", is_flag=True, help="Print the choice, reasons, host facts and all candidates.")
@click.option("--cpuinfo", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Detect for a recorded /proc/cpuinfo (another board's) instead of this machine.")
@click.option("--device-tree", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --cpuinfo: the board's recorded /proc/device-tree/model.")
@click.option("--os", "os_name", default="linux", show_default=True, help="With --cpuinfo: the board's OS.")
@click.option("--ram-mb", type=click.IntRange(1), default=4096, show_default=True,
              help="With --cpuinfo: the board's RAM.")
def detect(as_json: bool, cpuinfo: Path | None, device_tree: Path | None, os_name: str, ram_mb: int) -> None:
    """Pick the profile that best matches this machine (CPU flags, cores, RAM, OS, arch) and say why.

    \b
    Examples:
      edgesplit profiles detect
      edgesplit profiles detect --json
      edgesplit profiles detect --cpuinfo pi4-cpuinfo.txt --device-tree pi4-model.txt
    """
    host = None
    if cpuinfo is not None:
        tree = device_tree.read_bytes().decode("utf-8", "replace") if device_tree else None
        host = host_from_records(cpuinfo.read_text(errors="replace"), tree, os_name=os_name, ram_mb=ram_mb)
    d = detect_profile(host)
    if as_json:
        echo_json(d.as_dict())
        return
    h = d.host
    click.echo(f"host: {h.arch}, {h.os}, {h.cores} cores ({h.logical_cores} logical), {h.ram_mb} MB RAM, {h.model}")
    click.echo(f"profile: {d.profile.name}")
    for reason in d.reasons:
        click.echo(f"  {reason}")
    others = [c["name"] for c in d.candidates[1:] if c["matches"]]
    if others:
        click.echo(f"also matching: {', '.join(others)}")
