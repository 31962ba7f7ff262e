"""`edgesplit bench`: latency profile of one model, or several compared in one interleaved run."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..bench import (
    BenchConfig,
    Target,
    format_table,
    parse_target,
    plan_emulation,
    plot,
    run_bench,
    write_csv,
)
from ..bench_compare import compare_rows, format_compare, host_record, load_run, plot_compare
from ..bench_server import save_report
from ..errors import InvalidRequestError
from ..options import SPECULATIVE_MODES
from .options import echo_json


@click.command()
@click.argument("targets", nargs=-1)
@click.option("-m", "--model", default="default", show_default=True, help="Model to measure (`default`, .gguf, bundle).")
@click.option("--profile", default=None, help="Hardware profile name or TOML file.")
@click.option("--backend", default=None, help="Force a backend (llamacpp, onnxruntime).")
@click.option("-t", "--threads", type=int, default=None, help="CPU threads (default: the profile's or physical cores).")
@click.option("--prompt-tokens", type=int, default=128, show_default=True, help="Exact prompt length in tokens.")
@click.option("--gen-tokens", type=int, default=64, show_default=True, help="Tokens to generate per repetition.")
@click.option("--repeat", type=int, default=3, show_default=True, help="Measured repetitions (after one warm-up).")
@click.option("--compare", is_flag=True, help="Measure every TARGET (MODEL[,backend=B][,profile=P][,threads=N]) interleaved.")
@click.option("--emulate-profile", default=None, help="Rehearse a smaller device here: its threads, CPU affinity and budget.")
@click.option("--no-reference", is_flag=True, help="Skip the bare llama-cpp-python reference loop.")
@click.option("--speculative", type=click.Choice(SPECULATIVE_MODES), is_flag=False, flag_value="on", default=None,
              help="Compare speculative decoding (MODE, default on) with plain decoding on four workloads.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per target (JSON lines).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a PNG chart here.")
@click.option("--save", "save_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the run (with this host's facts) to FILE, to compare with other devices.")
def bench(targets, model, profile, backend, threads, prompt_tokens, gen_tokens, repeat, compare, emulate_profile,
          no_reference, speculative, as_json, as_csv, plot_file, save_file):
    """Measure TTFT, prefill and decode speed, inter-token latency, peak RSS and bandwidth use.

    One warm-up, then --repeat repetitions of a prompt of exactly --prompt-tokens tokens (another
    each time, the prompt cache off: TTFT is a cold prompt's) and greedy
    generation of --gen-tokens tokens. decode tok/s is compared with the memory-bandwidth ceiling
    (a copy benchmark run on the spot) and, on llama.cpp, with a bare llama-cpp-python loop.
    With --compare, each TARGET is `MODEL[,backend=B][,profile=P][,threads=N][,label=L]`
    (missing parts from --model/--backend/--profile); all run interleaved into one table and chart.

    Every run is saved with this host's facts (arch, CPU, cores, RAM, detected profile, copy
    bandwidth) for the web UI's bench page; --save FILE writes a copy to carry to another device.
    `edgesplit bench compare RUN.json...` lays several devices' runs side by side (table, --plot
    PNG, --json rows), each read against its own bandwidth ceiling; emulated runs stay apart.

    \b
    Examples:
      edgesplit bench
      edgesplit bench --json --repeat 5 --gen-tokens 128
      edgesplit bench --emulate-profile raspberry-pi-5
      edgesplit bench --compare default default,threads=1 --plot cmp.png
      edgesplit bench --compare ./flan-t5-small-int8 ./smollm2-135m-int8 --prompt-tokens 256
      edgesplit bench --save laptop.json; edgesplit bench compare laptop.json pi5.json --plot devices.png
      edgesplit bench --speculative --threads 1 --gen-tokens 96

    --speculative [MODE] instead runs four workloads (agent script, JSON-schema output, grounded
    rewrite, open-ended story) greedily on the model with and without speculation, interleaved, and
    reports decode tok/s of each, the speedup, acceptance rate, mean accepted draft length, tokens
    per verifier pass and whether the outputs were identical.
    """
    if speculative is not None:
        _speculative(Target(model=model, backend=backend, profile=profile, threads=threads), speculative,
                     gen_tokens, repeat, as_json)
        return
    if targets and targets[0] == "compare" and not compare:
        _compare_saved(targets[1:], plot_file, as_json)
        return
    if targets and not compare:
        raise InvalidRequestError("positional TARGETS need --compare (or use --model for one model)")
    if compare and not targets:
        raise InvalidRequestError("--compare needs at least one TARGET, e.g. `--compare default default,threads=1`")
    base = Target(model=model, backend=backend, profile=profile, threads=threads)
    chosen = [parse_target(spec, base) for spec in targets] if compare else [base]
    config = BenchConfig(prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, repeat=repeat,
                         reference=not no_reference)
    emulation = plan_emulation(emulate_profile) if emulate_profile else None
    if emulation is not None:
        for note in emulation.notes:
            click.echo(note, err=True)
    report = _run_with_progress(chosen, config, emulation)
    host = host_record(report.bandwidth_gb_s, emulation.profile.name if emulation else None)
    saved = save_report(report.rows, report.bandwidth_gb_s, report.notes, host, save_file)  # for the bench page
    click.echo(f"saved: {saved}", err=True)
    if plot_file is not None:
        plot(report, plot_file)
    if as_json:
        for row in report.rows:
            echo_json({**row, "notes": report.notes} if report.notes else row)
    elif as_csv:
        click.echo(write_csv(report), nl=False)
    else:
        click.echo(format_table(report))
    if plot_file is not None and not as_json and not as_csv:
        click.echo(f"chart: {plot_file}")


def _speculative(target: Target, mode: str, gen_tokens: int, repeat: int, as_json: bool) -> None:
    from ..bench import load_target
    from ..bench_spec import format_spec_table, run_spec_bench

    rows = run_spec_bench(lambda m: load_target(target, speculative=m), mode, gen_tokens, repeat,
                          progress=lambda msg: click.echo(msg, err=True))
    for row in rows:
        if as_json:
            echo_json(row)
    if not as_json:
        click.echo(format_spec_table(rows, mode))


def _compare_saved(files: tuple[str, ...], plot_file: Path | None, as_json: bool) -> None:
    if not files:
        raise InvalidRequestError("bench compare needs saved runs: `edgesplit bench compare a.json b.json`")
    runs = [load_run(Path(f)) for f in files]
    if plot_file is not None:
        plot_compare(runs, plot_file)
    if as_json:
        for row in compare_rows(runs):
            echo_json(row)
        return
    click.echo(format_compare(runs))
    if plot_file is not None:
        click.echo(f"chart: {plot_file}")


def _run_with_progress(targets, config, emulation):
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety: the `bench` extra brings it
        return run_bench(targets, config, emulation=emulation)

    total = len(targets) * (1 + config.repeat)
    with tqdm(total=total, file=sys.stderr, desc="bench", unit="step", leave=False) as bar:
        def step(desc: str) -> None:
            bar.set_postfix_str(desc[:40])
            bar.update()

        return run_bench(targets, config, progress=step, emulation=emulation)
