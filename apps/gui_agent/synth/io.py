"""Training rows on disk: one JSON object a line (JSONL), written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import GuiAgentError

REQUIRED = ("app", "task", "script", "messages", "completion")


def write_rows(rows: Iterable[dict], path: Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_rows(path: Path) -> list[dict]:
    """The rows of a JSONL file; GuiAgentError naming the line when one is not a training row."""
    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GuiAgentError(f"cannot read training data {path}: {exc}") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GuiAgentError(f"{path} line {i} is not JSON ({exc.msg}); regenerate it with `agent synth`") from None
        missing = [k for k in REQUIRED if not isinstance(row, dict) or k not in row]
        if missing:
            raise GuiAgentError(f"{path} line {i} lacks {', '.join(missing)}; regenerate it with `agent synth`")
        rows.append(row)
    return rows
