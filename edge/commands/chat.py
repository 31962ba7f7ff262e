"""`edgesplit chat`: an interactive, streaming conversation."""

from __future__ import annotations

import sys

import click

from ..errors import EdgeError
from ..sampling import SamplingParams
from .options import load_engine, model_options

HELP = "commands: /reset (forget the conversation), /system TEXT, /bye (or Ctrl-D)"


@click.command()
@model_options
@click.option("--system", default=None, help="System message that starts the conversation.")
@click.option("-n", "--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=0.7, show_default=True)
@click.option("--seed", type=int, default=None)
def chat(model, profile, backend, threads, n_ctx, speculative, system, max_tokens, temperature, seed):
    """Chat with a local model; answers stream as they are generated and history is kept.

    \b
    Type a message and press Enter. Commands:
      /reset          forget the conversation so far
      /system TEXT    set the system message (and reset)
      /bye            quit (Ctrl-D works too)

    \b
    Examples:
      edgesplit chat
      edgesplit chat -m ./bundles/qwen-int4 --system "Answer in one sentence."
    """
    params = SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed)
    interactive = sys.stdin.isatty()
    base = [{"role": "system", "content": system}] if system else []
    history = list(base)
    with load_engine(model, profile, backend, threads, n_ctx, speculative) as engine:
        if interactive:
            click.echo(f"edgesplit chat: {engine.name} on {engine.backend_name}. {HELP}", err=True)
        while True:
            if interactive:
                click.echo(">>> ", nl=False, err=True)
            line = sys.stdin.readline()
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            if line in ("/bye", "/exit", "/quit"):
                break
            if line == "/reset" or line.startswith("/system"):
                text = line.partition(" ")[2].strip()
                base = [{"role": "system", "content": text}] if line.startswith("/system") and text else base
                history = list(base)
                click.echo("(conversation reset)", err=True)
                continue
            if line.startswith("/"):
                click.echo(HELP, err=True)
                continue
            history.append({"role": "user", "content": line})
            try:
                answer = _stream_answer(engine, history, params)
            except EdgeError as exc:  # e.g. the history outgrew the context: say so, keep chatting
                history.pop()
                click.echo(f"error: {exc} (try /reset)", err=True)
                continue
            history.append({"role": "assistant", "content": answer})


def _stream_answer(engine, history, params) -> str:
    parts = []
    for chunk in engine.stream(history, params=params):
        click.echo(chunk.text, nl=False)
        sys.stdout.flush()
        parts.append(chunk.text)
    click.echo()
    return "".join(parts).strip()
