"""`edgesplit run`: answer one prompt."""

from __future__ import annotations

import sys

import click

from ..errors import InvalidRequestError
from ..sampling import SamplingParams
from .options import echo_json, load_engine, model_options, sampling_kwargs, sampling_options


@click.command()
@click.argument("prompt", required=False)
@model_options
@sampling_options
@click.option("--system", default=None, help="System message for chat models.")
@click.option("--raw", is_flag=True, help="Send PROMPT as is, without the model's chat template.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (text, token counts, timings).")
@click.option("-v", "--verbose", is_flag=True, help="Print timings to stderr after the answer.")
def run(prompt, model, profile, backend, threads, n_ctx, speculative, max_tokens, temperature, top_p, top_k, seed, stop,
        json_schema_file, system, raw, as_json, verbose):
    """Answer PROMPT with a local model, streaming the text as it is generated.

    PROMPT may be `-` (or omitted) to read it from standard input. Chat models get the prompt
    through their own chat template unless --raw is given. With the default --speculative auto
    decoding is speculative only where that keeps greedy output the same (fp32/fp16 ONNX bundles);
    --speculative on drafts on every backend, --speculative off never.

    \b
    Examples:
      edgesplit run "What is the capital of France?"
      edgesplit run --json --temperature 0 "Name three primes."
      edgesplit run --speculative off "Write a poem."
      edgesplit run --json-schema person.json "Invent a person."
      echo "Summarise: ..." | edgesplit run -
      edgesplit run -m ./bundles/smollm2-int4 --profile raspberry-pi-5 "Hello"
    """
    if prompt is None or prompt == "-":
        prompt = sys.stdin.read() if not sys.stdin.isatty() else ""
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty: pass PROMPT or pipe text into `edgesplit run -`")
    params = SamplingParams(**sampling_kwargs(max_tokens, temperature, top_p, top_k, seed, stop, json_schema_file))
    messages = prompt if raw else ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    with load_engine(model, profile, backend, threads, n_ctx, speculative) as engine:
        if as_json:
            echo_json(engine.generate(messages, params=params).flat())
            return
        result = None
        for chunk in engine.stream(messages, params=params):
            click.echo(chunk.text, nl=False)
            sys.stdout.flush()
            result = chunk.result or result
        click.echo()
        if verbose and result is not None:
            t = result.timings
            click.echo(f"[{result.prompt_tokens} prompt tokens, {result.completion_tokens} generated, "
                       f"ttft {t.ttft_ms:.0f} ms, prefill {t.prefill_tok_s:.1f} tok/s, decode "
                       f"{t.decode_tok_s:.1f} tok/s, finish {result.finish_reason}]", err=True)
