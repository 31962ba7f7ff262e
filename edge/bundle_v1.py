"""Schema 1 manifests, read as schema 2: the facts of the free-form `extra` move to their typed fields.

Every key a schema 1 export wrote has a home in schema 2, so such bundles keep loading. A key
nobody wrote stays behind as `extra.KEY` and is reported as unknown, with the advice to re-export.
"""

from __future__ import annotations

from typing import Any

# format -> {schema 2 field: the `extra` keys that fill it}; "runtime" also takes extra["runtime"]
_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "gguf": {"runtime": ("kv_type_for_parity",), "quant": ("ternarize", "ternary_tensors", "keep_embeddings",
                                                           "fallbacks")},
    "onnx": {"runtime": (), "quant": ("bits", "block_size", "accuracy_level", "symmetric", "keep_8bit")},
}
_TOP = {"gguf": (), "onnx": ("ort_mobile",)}  # `extra` keys that became top-level fields
_DERIVED = ("passed", "summary")  # decode_parity keys schema 2 computes instead of storing


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """`data` (schema 1) as a schema 2 manifest dict; validation then reports what does not fit."""
    out = {k: v for k, v in data.items() if k != "extra"} | {"schema_version": 2}
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        return out | {"extra": extra}  # reported as an unknown key
    extra = dict(extra)
    for key in ("tokenizer_parity", "decode_parity"):
        if key in extra:
            out[key] = extra.pop(key)
    if isinstance(out.get("decode_parity"), dict):
        out["decode_parity"] = {k: v for k, v in out["decode_parity"].items() if k not in _DERIVED}
    fmt = data.get("format")
    fields = _FIELDS.get(fmt, {}) if isinstance(fmt, str) else {}
    for name, keys in fields.items():
        base = extra.pop("runtime", None) if name == "runtime" else None
        moved = {k: extra.pop(k) for k in keys if k in extra}
        if base is not None or moved:  # else the field's default, or "required key is missing"
            out[name] = (base or {}) | moved if isinstance(base, dict | None) else base
    for key in _TOP.get(fmt, ()) if isinstance(fmt, str) else ():
        if key in extra:
            out[key] = extra.pop(key)
    return out | {f"extra.{k}": v for k, v in extra.items()}
