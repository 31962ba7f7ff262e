"""`edgesplit export onnx|gguf|mobile` and `edgesplit verify`.

Each format's command lives in its own module (export/onnx/cli.py, export/gguf/cli.py) and is
imported only when used, so `edgesplit --help` never imports torch.
"""

from __future__ import annotations

import importlib

import click

from edge.cli import LazyGroup, _module_exists

FORMATS = {"onnx": "export.onnx.cli:onnx", "gguf": "export.gguf.cli:gguf", "mobile": "export.mobile.cli:mobile"}
VERIFIERS = {"onnx": "export.onnx.verify:verify_bundle", "gguf": "export.gguf.verify:verify_bundle"}


class _FormatGroup(LazyGroup):
    def list_commands(self, ctx):
        return sorted(n for n, t in FORMATS.items() if _module_exists(t.partition(":")[0]))

    def get_command(self, ctx, name):
        target = FORMATS.get(name)
        if target is None or not _module_exists(target.partition(":")[0]):
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=_FormatGroup)
def export():
    """Export a local Hugging Face checkpoint (or a GGUF) to a verified bundle.

    \b
    Examples:
      edgesplit export onnx ./my-slm ./bundles/my-slm-int4 --quant int4
      edgesplit export gguf ./my-slm ./bundles/my-slm-q4 --quant q4_k_m
      edgesplit export mobile ./bundles/my-slm-int4 ./kits --target ort-genai,transformers-js
    """


def verifier_for(fmt: str):
    target = VERIFIERS.get(fmt)
    if target is None:
        from edge.errors import ModelFormatError

        raise ModelFormatError(f"no verifier for bundle format {fmt!r}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@click.command()
@click.argument("bundle", type=click.Path(path_type=str))
@click.option("--reference", default=None, help="Source checkpoint (HF dir or GGUF) to re-measure parity against.")
@click.option("--json", "as_json", is_flag=True, help="Print hashes_ok, max_abs_logit_diff, top1_agreement, n_tokens.")
def verify(bundle, reference, as_json):
    """Re-check a bundle (file hashes, logit parity, decode-path parity, tokenization) or a companion kit.

    A kit (from `export mobile`; or a folder of kits) is re-hashed and its golden file replayed on
    the kit's own runtime where it is installed (skipped, with the reason, where it is not).

    Decode-path parity drives the bundle's own runtime through its KV cache along the source's
    greedy continuations (stored in parity/decode.npz at export, or re-generated from --reference).
    Exits non-zero when a hash differs, either parity misses its bound or a probe text tokenizes differently.

    \b
    Examples:
      edgesplit verify ./bundles/my-slm-int4
      edgesplit verify ./bundles/my-slm-int4 --reference ./my-slm --json
      edgesplit verify ./kits/ort-genai
    """
    import json
    import sys
    from pathlib import Path

    from edge.bundle import read_manifest, verify_files
    from edge.errors import BundleIntegrityError
    from export.mobile.verify import kits_in

    path = Path(bundle)
    if kits_in(path):
        _verify_kits(path, as_json)
        return
    manifest = read_manifest(path)
    try:
        verify_files(path, manifest)
        report = {"hashes_ok": True}
    except BundleIntegrityError as exc:
        report = {"hashes_ok": False, "error": str(exc)}
    if report["hashes_ok"]:
        report.update(verifier_for(manifest.format)(path, manifest, reference))
        if "tokenizer_parity" not in report:  # every format: the bundle must tokenize like its source
            from export.tokparity import verify_bundle as verify_tokenizer

            report.update(verify_tokenizer(path, manifest, reference))
    if (report.get("tokenizer_parity") or {}).get("passed") is False:
        report["passed"] = False
    ok = report["hashes_ok"] and report.get("passed", True)
    if as_json:
        click.echo(json.dumps(report))
    else:
        for key, value in report.items():
            click.echo(f"{key:>20}: {value}")
    if not ok:
        sys.exit(1)


def _verify_kits(path, as_json: bool) -> None:
    import json
    import sys

    from export.mobile.verify import verify_kits

    reports = verify_kits(path)
    if as_json:
        click.echo(json.dumps(reports[0] if len(reports) == 1 else reports))
    for r in [] if as_json else reports:
        golden = r.get("golden") or {}
        said = (f"skipped: {golden['skipped']}" if "skipped" in golden else
                f"{golden['exact']}/{golden['cases']} prompts exact, token agreement {golden['token_agreement']}"
                if golden else r.get("error", ""))
        click.echo(f"{r['target']:>16}: hashes {'ok' if r['hashes_ok'] else 'BAD'}, golden {said} "
                   f"-> {'passed' if r['passed'] else 'FAILED'}")
    if not all(r["passed"] for r in reports):
        sys.exit(1)
