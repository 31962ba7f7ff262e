"""`edgesplit cogenesis write`: write with private context locally, helped by a cloud model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cloud_bridge.runs import DRAFTS
from edge.commands.options import RuntimeChoice, runtime_options
from edge.errors import InvalidRequestError

from .service import WriteRequest, write


@click.group()
def cogenesis() -> None:
    """CoGenesis: the cloud helps without ever seeing your private context.

    \b
    Examples:
      edgesplit cogenesis write --context notes.txt "Write a thank-you note to my doctor"
      edgesplit cogenesis write --context notes.txt --mode logits --cloud-url http://127.0.0.1:8080/v1 "..."
    """


@cogenesis.command("write")
@click.argument("instruction")
@click.option("--context", "context_file", required=True, type=click.Path(allow_dash=True, dir_okay=False, path_type=Path),
              help="Private context file (or - for stdin); it never leaves this device.")
@click.option("--mode", type=click.Choice(["off", "sketch", "logits"]), default="sketch", show_default=True,
              help="What may leave the device: nothing, a de-identified outline request, or logit steps.")
@click.option("--cloud-url", default=None, help="OpenAI-compatible endpoint (default $EDGESPLIT_CLOUD_URL).")
@click.option("--cloud-model", default=None, help="Model name sent to the cloud (default $EDGESPLIT_CLOUD_MODEL or `default`).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds for each cloud call, retries included.")
@click.option("-m", "--model", default="default", show_default=True, help="Local model.")
@click.option("-n", "--max-tokens", type=int, default=256, show_default=True)
@click.option("--outline-tokens", type=int, default=128, show_default=True, help="Most tokens of the cloud's outline.")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=None)
@click.option("--profile-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Known private names/places/contacts (TOML or JSON).")
@click.option("--conversation", default=None, help="Conversation id: keeps placeholders stable across calls.")
@click.option("--gate", default=None, metavar="METRIC[:THRESHOLD]",
              help="Logits mode: consult the cloud only at steps where the local model's uncertainty "
                   "(entropy, margin or top1) reaches THRESHOLD (default per metric: entropy 5 nats, "
                   "margin 0.97, top1 0.9), e.g. entropy or entropy:4.5; there the cloud picks the token.")
@click.option("--batch", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Logits mode at temperature 0: verify runs of up to N tokens in one cloud call.")
@click.option("--draft", type=click.Choice(list(DRAFTS)), default="auto", show_default=True,
              help="With --batch: who drafts each run (the local model, the cloud's own continuation, a tree "
                   "of the local model's likeliest continuations scored in one call listing up to N prompts, "
                   "or auto: local or cloud, whichever kept more tokens per call).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@runtime_options
def write_cmd(instruction: str, context_file: Path, mode: str, cloud_url: str | None, cloud_model: str | None,
              timeout: float, model: str, max_tokens: int, outline_tokens: int, temperature: float, seed: int | None,
              profile_file: Path | None, conversation: str | None, gate: str | None, batch: int, draft: str,
              as_json: bool, runtime: RuntimeChoice) -> None:
    """Write INSTRUCTION using the private context in --context.

    The cloud (sketch mode) sees only the de-identified instruction and returns an outline; the
    local model writes the answer. If the cloud fails, the local model answers alone and the
    result says so (cloud_used false, cloud_error). Every byte sent is in `edgesplit ledger show`.

    \b
    Examples:
      edgesplit cogenesis write --context notes.txt "Write an email to my landlord"
      edgesplit cogenesis write --context notes.txt --json --mode off "Summarise my week"
    """
    if not instruction.strip():
        raise InvalidRequestError("the instruction is empty: say what to write")
    context = sys.stdin.read() if str(context_file) == "-" else _read(context_file)
    req = WriteRequest(instruction, context, mode, cloud_url, cloud_model, timeout, max_tokens,
                       outline_tokens=outline_tokens, temperature=temperature, seed=seed, conversation_id=conversation,
                       profile_file=profile_file, gate=_gate(gate), batch=batch, draft=draft)
    with runtime.load(model) as engine:
        result = write(engine, req)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    click.echo(result.text)
    note = f"[mode {result.mode_used}, cloud_used {str(result.cloud_used).lower()}"
    note += f", cloud_error: {result.cloud_error}]" if result.cloud_error else "]"
    click.echo(note, err=True)


def _gate(text: str | None):
    from cloud_bridge.policies import Gate

    if text is None:
        return None
    metric, _, value = text.partition(":")
    try:
        return Gate(metric, float(value) if value else None)
    except (ValueError, InvalidRequestError) as exc:
        raise click.BadParameter(f"{text!r}: {exc}; expected METRIC[:THRESHOLD] such as entropy or entropy:4.5",
                                 param_hint="--gate") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequestError(f"cannot read the context file {path}: {exc.strerror}") from None
