"""`edgesplit redact`, `edgesplit ledger show|verify` and `edgesplit vault rotate-key`."""

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
    """The outbound ledger: every byte this device sent to a cloud endpoint.

    \b
    Examples:
      edgesplit ledger show
      edgesplit ledger show --json --last 5
      edgesplit ledger verify
    """


@ledger.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as a JSON list.")
@click.option("--last", type=int, default=None, help="Only the last N entries.")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ledger file (default $EDGESPLIT_HOME/ledger.jsonl).")
def show(as_json: bool, last: int | None, path: Path | None) -> None:
    """List what was sent: when, to which endpoint, why, and the exact body.

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
                   f"  why: {e.get('purpose')}\n  {len(body_bytes(e))} bytes: "
                   f"{body_bytes(e).decode('utf-8', 'replace')}")


@ledger.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print {ok, entries, problems}.")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ledger file (default $EDGESPLIT_HOME/ledger.jsonl).")
def verify(as_json: bool, path: Path | None) -> None:
    """Check the hash chain: an edited, deleted or reordered entry fails (exit code 2).

    \b
    Examples:
      edgesplit ledger verify --json
    """
    report = Ledger(path).verify()
    if as_json:
        _echo_json(report.to_dict())
    else:
        for p in report.problems:
            click.echo(p)
        if report.ok:
            click.echo(f"ok: {report.entries} entries, hash chain intact")
    if not report.ok:
        if as_json:
            sys.exit(2)
        raise LedgerError(f"the ledger was tampered with: {len(report.problems)} problem(s) found")


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
