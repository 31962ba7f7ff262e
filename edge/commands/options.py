"""Options shared by every command that loads a model."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from ..engine import Engine
from ..options import SPECULATIVE_MODES, RuntimeOptions

SPECULATIVE_HELP = ("Draft-free speculative decoding: auto (only where it keeps greedy output the same: llama.cpp as "
                    "the set-up builds it, with flash attention, and decoder-only fp32/fp16 ONNX bundles; quantized "
                    "ONNX decodes plainly), on (prompt lookup + token recycling everywhere; may part from plain "
                    "decoding at near-ties), ngram, recycle or off (default: auto or the profile's).")


def speculative_option(**kw) -> Callable:
    return click.option("--speculative", type=click.Choice(SPECULATIVE_MODES), default=None,
                        help=SPECULATIVE_HELP, **kw)


def _runtime_flags() -> list[Callable]:
    return [
        click.option("--profile", default=None, help="Hardware profile name or TOML file (see `edgesplit profiles list`)."),
        click.option("--backend", default=None, help="Force a backend (llamacpp, onnxruntime); default: from the model format."),
        click.option("-t", "--threads", type=int, default=None, help="CPU threads (default: physical cores or the profile's)."),
        click.option("--ctx", "n_ctx", type=int, default=None, help="Context length in tokens (default 2048 or the profile's)."),
        speculative_option(),
    ]


def model_options(f: Callable) -> Callable:
    """--model, --profile, --backend, --threads, --ctx, --speculative."""
    for opt in reversed([
        click.option("-m", "--model", default="default", show_default=True,
                     help="`default`, a .gguf file, a bundle directory, or a bundle name (see `edgesplit models`)."),
        *_runtime_flags(),
    ]):
        f = opt(f)
    return f


@dataclass(frozen=True)
class RuntimeChoice:
    """How a command's user asked the model to run (None: the profile's or the default)."""

    profile: str | None = None
    backend: str | None = None
    threads: int | None = None
    n_ctx: int | None = None
    speculative: str | None = None

    def load(self, model: str) -> Engine:
        return load_engine(model, self.profile, self.backend, self.threads, self.n_ctx, self.speculative)


def runtime_options(f: Callable) -> Callable:
    """--profile, --backend, --threads, --ctx, --speculative for a command that names its own
    model option(s); the command gets them as one `runtime: RuntimeChoice`."""
    @functools.wraps(f)
    def command(*args, profile, backend, threads, n_ctx, speculative, **kwargs):
        return f(*args, runtime=RuntimeChoice(profile, backend, threads, n_ctx, speculative), **kwargs)

    for opt in reversed(_runtime_flags()):
        command = opt(command)
    return command


def load_engine(model: str, profile: str | None, backend: str | None, threads: int | None,
                n_ctx: int | None, speculative: str | None = None) -> Engine:
    overrides = {k: v for k, v in {"n_threads": threads, "n_ctx": n_ctx, "speculative": speculative}.items()
                 if v is not None}
    if profile is None:
        return Engine.load(model, backend=backend, options=RuntimeOptions(**overrides))
    engine_options = None
    if overrides:
        from ..profiles import apply_profile

        _, base = apply_profile(profile, None, None)
        engine_options = base.with_(**overrides)
    return Engine.load(model, profile=profile, backend=backend, options=engine_options)


def sampling_options(f: Callable) -> Callable:
    for opt in reversed([
        click.option("-n", "--max-tokens", type=int, default=256, show_default=True, help="Most tokens to generate."),
        click.option("--temperature", type=float, default=0.7, show_default=True, help="0 = greedy."),
        click.option("--top-p", type=float, default=0.95, show_default=True),
        click.option("--top-k", type=int, default=40, show_default=True, help="0 disables top-k."),
        click.option("--seed", type=int, default=None, help="Seed for reproducible sampling."),
        click.option("--stop", multiple=True, help="Stop sequence (repeatable)."),
        click.option("--json-schema", "json_schema_file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Constrain the answer to this JSON schema file."),
    ]):
        f = opt(f)
    return f


def sampling_kwargs(max_tokens, temperature, top_p, top_k, seed, stop, json_schema_file) -> dict:
    schema = None
    if json_schema_file is not None:
        from ..errors import SchemaError
        from ..sampling import load_json_schema

        try:
            text = json_schema_file.read_text()
        except OSError as exc:
            raise SchemaError(f"cannot read schema file {json_schema_file}: {exc.strerror}") from None
        schema = load_json_schema(text, str(json_schema_file))
    return {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "top_k": top_k,
            "seed": seed, "stop": tuple(stop), "json_schema": schema}


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=None, ensure_ascii=False))
