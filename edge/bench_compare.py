"""Side by side: saved `edgesplit bench` runs from several devices in one table and one chart.

    runs = [load_run(p) for p in ("laptop.json", "pi5.json")]
    print(format_compare(runs)); plot_compare(runs, Path("devices.png"))

A run carries the facts of the host that made it (`host_record`): architecture, CPU model,
cores, RAM, the detected profile and the copy bandwidth measured in that run, so each device's
decode speed is read against its own bandwidth ceiling. Runs made under `--emulate-profile` are
this host under a smaller device's restrictions, not that device: they are grouped after the
measured ones, labelled EMULATED, and never ranked with them.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from .errors import EdgeError, InvalidRequestError

COLUMNS = (("device", "device"), ("target", "target"), ("ttft_ms", "TTFT ms"), ("decode_tok_s", "decode tok/s"),
           ("itl_p95_ms", "ITL p95 ms"), ("peak_rss_mb", "RSS MB"), ("bandwidth_gb_s", "copy GB/s"),
           ("bandwidth_ratio", "BW ratio"))
HOST_KEYS = ("name", "arch", "os", "cpu_model", "cores", "logical_cores", "ram_mb", "profile")


def host_record(bandwidth_gb_s: float, emulated: str | None) -> dict:
    """This machine's facts for a saved run; `emulated` names the profile rehearsed, if any."""
    from .profiles import detect

    d = detect()
    h = d.host
    return {"name": platform.node(), "arch": h.arch, "os": h.os, "cpu_model": h.model, "cores": h.cores,
            "logical_cores": h.logical_cores, "ram_mb": h.ram_mb, "profile": d.profile.name,
            "bandwidth_gb_s": round(bandwidth_gb_s, 3), "emulated": emulated}


def load_run(path: Path) -> dict:
    """A saved run, checked: its rows and the host facts that make it comparable."""
    try:
        run = json.loads(Path(path).read_text())
    except OSError as e:
        raise InvalidRequestError(f"cannot read bench run {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise InvalidRequestError(f"{path} is not a bench run (invalid JSON: {e.msg}, line {e.lineno})") from None
    if not isinstance(run, dict) or not isinstance(run.get("rows"), list) or not run["rows"]:
        raise InvalidRequestError(f"{path} is not a bench run: no rows (save one with `edgesplit bench --save FILE`)")
    if not isinstance(run.get("host"), dict):
        raise InvalidRequestError(f"{path} has no host facts: it was saved by an older edgesplit; run "
                                  "`edgesplit bench --save FILE` again on that device")
    return {"id": Path(path).stem, **run}


def _device(run: dict) -> str:
    h = run["host"]
    cpu = str(h.get("cpu_model") or h.get("arch") or "?")
    name = f"{h.get('name') or '?'} ({h.get('arch', '?')}, {cpu[:40]}, {h.get('cores', '?')} cores, " \
           f"{(h.get('ram_mb') or 0) / 1024:.0f} GB)"
    return f"EMULATED {h['emulated']} on {name}" if h.get("emulated") else name


def _short(run: dict) -> str:
    h = run["host"]
    return ("EMULATED " + str(h["emulated"]) + " on " if h.get("emulated") else "") + \
        f"{h.get('name') or '?'} ({h.get('arch', '?')}, {h.get('cores', '?')} cores)"


def _num(v: object) -> float | None:
    """A figure from a file that may have been written by hand: a number, or nothing."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) else None


def compare_rows(runs: list[dict]) -> list[dict]:
    """One row per (run, target): measured runs first, then emulated ones (`emulated` set)."""
    out = []
    for run in runs:
        bw = _num(run["host"].get("bandwidth_gb_s")) or _num(run.get("bandwidth_gb_s"))
        for r in run["rows"]:
            if not isinstance(r, dict):
                continue
            bpt, dec = _num(r.get("bytes_per_token")), _num(r.get("decode_tok_s"))
            ratio = dec * bpt / (bw * 1e9) if dec and bpt and bw else _num(r.get("bandwidth_ratio"))
            out.append({"run": run.get("id"), "device": _device(run), "host": _short(run), "target": str(r.get("label") or r.get("model")),
                        "ttft_ms": _num(r.get("ttft_ms")), "decode_tok_s": dec, "itl_p95_ms": _num(r.get("itl_p95_ms")),
                        "peak_rss_mb": _num(r.get("peak_rss_mb")), "bandwidth_gb_s": bw,
                        "bandwidth_ratio": ratio, "emulated": bool(run["host"].get("emulated") or r.get("emulated"))})
    return sorted(out, key=lambda r: r["emulated"])  # stable: measured runs keep their order, emulated after


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
    return "-" if v is None else str(v)


def format_compare(runs: list[dict]) -> str:
    """A plain-text table; emulated rows under their own heading."""
    rows = compare_rows(runs)
    cells = [[title for _, title in COLUMNS]] + [[_fmt(r[k]) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    line = lambda c: "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip()  # noqa: E731
    out = ["measured:", line(cells[0])]
    for r, c in zip(rows, cells[1:], strict=True):
        if r["emulated"] and not out[-1].startswith("emulated"):
            out += ["", "emulated (this host under a smaller device's restrictions, not measurements of that device):",
                    line(cells[0])]
        out.append(line(c))
    out.append("BW ratio: decode tok/s x bytes read per token / that device's own measured copy bandwidth")
    return "\n".join(out)


def plot_compare(runs: list[dict], path: Path) -> None:
    """A PNG: decode, TTFT, ITL p95, RSS and bandwidth ratio per device and target."""
    try:
        import matplotlib
    except ImportError:
        raise EdgeError("--plot needs matplotlib: pip install 'edgesplit[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = compare_rows(runs)
    labels = [f"{r['host']}\n{r['target']}" for r in rows]
    x = np.arange(len(rows))
    panels = (("decode_tok_s", "decode (tok/s)"), ("ttft_ms", "TTFT (ms)"), ("itl_p95_ms", "ITL p95 (ms)"),
              ("peak_rss_mb", "peak RSS (MB)"), ("bandwidth_ratio", "ratio to own bandwidth ceiling"))
    fig, axes = plt.subplots(1, len(panels), figsize=(3 + 2.6 * len(panels) + 0.8 * len(rows), 4.8))
    for ax, (key, title) in zip(axes, panels, strict=True):
        bars = ax.bar(x, [r[key] or 0.0 for r in rows], width=0.6, color="#3b6fe0")
        for bar, r in zip(bars, rows, strict=True):
            if r["emulated"]:  # never to be read as a measurement of that device
                bar.set(hatch="//", facecolor="#d9d9d9", edgecolor="#555555")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=6)
    fig.suptitle("edgesplit bench compare: measured (solid) vs emulated (hatched, not a real device)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
