"""`edgesplit redact`, `edgesplit ledger show|verify|reset` and `edgesplit vault rotate-key`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .entities import load_profile
from .errors import LedgerError
from .ledger import Ledger, body_bytes
from .pii import Detector
from .pseudonym import Pseudonymizer


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


@click.command()
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {text, findings: [{type, start, end, score}]}.")
@click.option("--profile-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Your known names/places/contacts (TOML or JSON); default $EDGESPLIT_HOME/profile.toml.")
def redact(source: Path, as_json: bool, profile_file: Path | None) -> None:
    """Preview what would leave the device: SOURCE with personal data replaced by placeholders.

    SOURCE is a text file or `-` for standard input. Findings carry character offsets into the
    original text. Nothing is sent anywhere.

    \b
    Examples:
      edgesplit redact notes.txt
      echo "Call Dr. Okafor at +44 20 7946 0958" | edgesplit redact -
      edgesplit redact --json --profile-file me.toml letter.txt
    """
    text = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")
    pseud = Pseudonymizer(Detector(known=load_profile(profile_file)))
    findings = pseud.detector.detect(text)
    redacted = pseud.apply(text, findings)
    if as_json:
        _echo_json({"text": redacted, "findings": [f.to_dict() for f in findings]})
    else:
        click.echo(redacted, nl=not redacted.endswith("\n"))


@click.group()
def ledger() -> None:
    """The outbound ledger: every byte this device sent to a cloud endpoint, MAC'd with a device key.

    \b
    Examples:
      edgesplit ledger show
      edgesplit ledger show --json --last 5
      edgesplit ledger verify
      edgesplit ledger reset --yes
    """


_FILE = click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Ledger file (default $EDGESPLIT_HOME/ledger.jsonl).")


@ledger.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as a JSON list.")
@click.option("--last", type=int, default=None, help="Only the last N entries.")
@_FILE
def show(as_json: bool, last: int | None, path: Path | None) -> None:
    """List what was sent: when, to which endpoint, why, and the exact body.

    Lines that are not JSON objects are left out; `edgesplit ledger verify` names them.

    \b
    Examples:
      edgesplit ledger show --last 3
    """
    entries = Ledger(path).entries()
    if last is not None:
        entries = entries[-last:] if last > 0 else []
    if as_json:
        _echo_json(entries)
        return
    if not entries:
        click.echo("the ledger is empty: nothing has left this device")
    for e in entries:
        click.echo(f"#{e.get('seq')} {e.get('ts')} {e.get('method')} {e.get('endpoint')}\n"
                   f"  why: {e.get('purpose')}\n  {_body_text(e)}")


def _body_text(entry: dict) -> str:
    try:
        body = body_bytes(entry)
    except ValueError as exc:
        return f"body unreadable: {exc}"
    return f"{len(body)} bytes: {body.decode('utf-8', 'replace')}"


@ledger.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print {ok, entries, keyed, problems}.")
@_FILE
def verify(as_json: bool, path: Path | None) -> None:
    """Check every entry's MAC, the chain, the head and the key store's record (exit code 2 on a problem).

    An edited, forged, deleted, reordered or cut entry, a chain recomputed without the device's
    key, a deleted ledger and an old unkeyed ledger all fail. While it fails nothing is sent.

    \b
    Examples:
      edgesplit ledger verify --json
    """
    led = Ledger(path)
    report = led.verify()
    if as_json:
        _echo_json(report.to_dict())
    else:
        for p in report.problems:
            click.echo(p)
        if report.ok:
            click.echo(f"ok: {report.entries} entries, every MAC and the head verify")
    if not report.ok:
        if as_json:
            sys.exit(2)
        raise LedgerError(f"the ledger fails verification (tampered with or damaged): {len(report.problems)} "
                          f"problem(s) above; nothing is sent until `edgesplit ledger reset` starts a new one")


@ledger.command("reset")
@click.confirmation_option(prompt="Archive the current ledger and start a new keyed one?",
                           help="Do not ask for confirmation.")
@_FILE
def reset(path: Path | None) -> None:
    """Keep the current ledger files as *.old and start a new keyed ledger (e.g. after a failed verify).

    Nothing is deleted: the old files stay beside the new ledger for inspection.

    \b
    Examples:
      edgesplit ledger reset --yes
    """
    kept = Ledger(path).reset()
    for p in kept:
        click.echo(f"kept {p}")
    click.echo("a new keyed ledger starts with the next send")


@click.group()
def vault() -> None:
    """The encrypted vault of placeholder mappings ($EDGESPLIT_HOME/vault.bin, key vault.key).

    \b
    Examples:
      edgesplit vault rotate-key
    """


@vault.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt the vault under a fresh key and replace vault.key (mode 0600).

    \b
    Examples:
      edgesplit vault rotate-key
    """
    from .vault import Vault

    v = Vault()
    v.rotate_key()
    click.echo(f"vault re-encrypted with a new key in {v.key_path}")
