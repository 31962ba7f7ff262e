"""`export_kits`: one verified model -> one folder per target runtime, written atomically.

Every target is checked before anything is written; all kits are built in a temp dir beside OUT
and renamed into place at the end, so a refusal or a failure leaves nothing at OUT.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge import __version__
from edge.engine import Engine
from edge.models import ModelRef, resolve
from edge.profiles import kv_cache_bytes, load_profile, model_facts

from ..bundle import staging
from .base import TARGETS, KitSetup, KitSource, Target, TargetRefusedError, load_target
from .golden import GOLDEN, MAX_TOKENS, make_golden
from .manifest import KitManifest, hash_files, write_kit_manifest

DEFAULT_PROFILE = "android-arm64-cpu"


def _eog_ids(engine: Engine) -> tuple[int, ...]:
    """End-of-generation ids as the Engine decides them (a bundle's manifest, a GGUF's token types)."""
    return tuple(i for i in range(engine.n_vocab) if engine.is_end_of_generation(i))


def kit_source(engine: Engine) -> KitSource:
    """The facts of the model `engine` runs, as a kit needs them."""
    info, manifest = engine.info, engine.ref.manifest
    quant = manifest.quantization if manifest else _gguf_quant(engine.ref)
    return KitSource(engine.ref, info.architecture, info.encoder_decoder, quant, info.chat_template,
                     info.bos_token, info.eos_token, info.add_bos, _eog_ids(engine), info.n_ctx_train,
                     info.n_vocab)


def _gguf_quant(ref: ModelRef) -> str:
    stem = ref.weights_file.stem
    return stem.rsplit(".", 1)[-1].lower() if "." in stem else "gguf"


def _sources(model: str, gguf: str | None, targets: list[Target]) -> dict[str, ModelRef]:
    """format -> verified model reference, for the formats the targets take."""
    refs: dict[str, ModelRef] = {}
    main = resolve(model)  # hash-checks a bundle
    refs[main.format] = main
    if gguf is not None:
        extra = resolve(gguf)
        if extra.format != "gguf":
            raise TargetRefusedError("llama-cpp", f"--gguf {gguf} is not a GGUF model")
        refs["gguf"] = extra
    for t in targets:
        if not any(f in refs for f in t.formats):
            raise TargetRefusedError(t.name, f"it loads {'/'.join(t.formats)} models and {model} is "
                                     f"{main.format}; pass one (for llama-cpp: --gguf FILE or `default`)")
    return refs


def _setup(source: KitSource, profile_name: str) -> tuple[KitSetup, dict[str, Any], float]:
    profile = load_profile(profile_name)
    facts = model_facts(source.ref)
    n_ctx = min(profile.runtime.n_ctx, source.n_ctx_train or profile.runtime.n_ctx)
    kv = kv_cache_bytes(facts, n_ctx, profile.runtime.kv_type)
    memory = {"weights_bytes": facts.weights_bytes, "kv_cache_bytes": kv, "kv_type": profile.runtime.kv_type}
    return KitSetup(profile, n_ctx), memory, round((facts.weights_bytes + kv) / 2**20, 1)


def export_kits(model: str, out: Path, targets: list[str] | None = None, *, gguf: str | None = None,
                profile: str = DEFAULT_PROFILE, max_tokens: int = MAX_TOKENS,
                overwrite: bool = False) -> dict[str, KitManifest]:
    """Write OUT/<target>/ for every target; TargetRefusedError (nothing written) when one cannot load it.

    `targets` None: every target whose format the given models have.
    """
    if targets is None:
        formats = {resolve(model).format, *(["gguf"] if gguf else [])}
        targets = [t for t in TARGETS if set(load_target(t).formats) & formats]
    chosen = [load_target(t) for t in dict.fromkeys(targets)]
    refs = _sources(model, gguf, chosen)
    # the golden file runs with the profile's context, KV type and batch: the kit's own settings
    options = load_profile(profile).runtime_options().with_(n_threads=0, execution_providers=("CPU",))
    engines = {fmt: Engine.load(ref, options=options) for fmt, ref in refs.items()}
    try:
        sources = {fmt: kit_source(e) for fmt, e in engines.items()}
        plan = [(t, sources[next(f for f in t.formats if f in sources)]) for t in chosen]
        for t, src in plan:
            if (reason := t.refusal(src)) is not None:
                raise TargetRefusedError(t.name, reason)
        goldens: dict[str, dict] = {}
        with staging(Path(out), overwrite=overwrite) as tmp:
            made = {}
            for t, src in plan:
                if src.format not in goldens:
                    goldens[src.format] = make_golden(engines[src.format], max_tokens=max_tokens)
                made[t.name] = _write_kit(t, src, tmp / t.name, profile, goldens[src.format])
            return made
    finally:
        for e in engines.values():
            e.close()


def _write_kit(target: Target, source: KitSource, kit: Path, profile: str, golden: dict) -> KitManifest:
    kit.mkdir(parents=True)
    setup, memory, ram_mb = _setup(source, profile)
    settings = target.write(source, kit, setup)
    (kit / GOLDEN).write_text(json.dumps(golden, indent=1) + "\n")
    prof = setup.profile
    manifest = KitManifest(
        target=target.name, runtime=target.runtime, model=source.ref.name, architecture=source.architecture,
        quantization=source.quantization, context_length=setup.context_length, ram_needed_mb=ram_mb,
        memory=memory, profile={"name": prof.name, "memory_budget_mb": prof.memory_budget_mb,
                                "fits": ram_mb <= prof.memory_budget_mb},
        chat_template=source.chat_template, special_tokens=source.special_tokens(), golden=GOLDEN,
        settings=settings, source={"path": str(source.ref.path), "format": source.format},
        files=hash_files(kit),
        created_with=f"edgesplit {__version__} ({datetime.now(UTC).isoformat(timespec='seconds')})",
    )
    write_kit_manifest(kit, manifest)
    return manifest
