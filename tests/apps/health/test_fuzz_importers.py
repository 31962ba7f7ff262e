"""Seeded fuzzers over every importer: mutated exports end in a result or a clear EdgeError.

Each format starts from a valid synthetic export and applies random mutations (byte flips,
truncation, swapped fields, huge or odd numbers, odd dates, other encodings; SQL-level edits
for Health Connect). Every import must return or raise an `EdgeError`, within generous time and
memory bounds (a freeze or a blow-up fails, a slow machine does not). Counts go to
`artifacts/health_fuzz.json`.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
import time
import tracemalloc
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from apps.health import synth_formats as sf
from apps.health.importers import import_file
from apps.health.synth import generate
from edge import EdgeError

SEED = 1414
MAX_INPUTS = 120
DEADLINE_S = 14.0  # per format: the count stops early on a slow machine, never the assertion
FREEZE_S = 20.0  # one import of a ~100 KB file taking this long is a freeze
MAX_PEAK = 64 << 20  # traced allocation peak of one import of a ~100 KB file
HUGE = ["1e308", "-1", "NaN", "inf", "-inf", "9" * 400, "0", "18446744073709551616", "-0", "1e-320", "０"]
ODD_DATES = ["9999-12-31", "0001-01-01", "2024-02-30", "1899-12-31", "2199-12-31", "10000-01-01", "2024-13-01",
             "12/31/99", "00/00/00", "9999-12-31 23:59:59 +1400", "0001-01-01 00:00:00 -1400"]
TOKEN = re.compile(rb'"[^"\n]{0,60}"|[^,\n<>="\s]+')
DATE = re.compile(rb"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2} [+-]\d{4})?|\d{2}/\d{2}/\d{2}")
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")


def flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def swap(rng: random.Random, data: bytes) -> bytes:
    spans = [m.span() for m in TOKEN.finditer(data)]
    if len(spans) < 2:
        return data
    (a, b), (c, d) = sorted(rng.sample(spans, 2))
    return data[:a] + data[c:d] + data[b:c] + data[a:b] + data[d:]


def _replace(rng: random.Random, data: bytes, pattern: re.Pattern, choices: list[str]) -> bytes:
    for _ in range(rng.randint(1, 3)):
        found = list(pattern.finditer(data))
        if not found:
            break
        m = rng.choice(found)
        data = data[:m.start()] + rng.choice(choices).encode() + data[m.end():]
    return data


def huge(rng: random.Random, data: bytes) -> bytes:
    return _replace(rng, data, NUMBER, HUGE)


def odd_date(rng: random.Random, data: bytes) -> bytes:
    return _replace(rng, data, DATE, ODD_DATES)


def encoding(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("utf-8", "replace")
    return rng.choice([lambda: text.encode("utf-16"), lambda: text.replace("e", "é").encode("cp1252", "replace"),
                       lambda: b"\xff\xfe\x00" + data, lambda: data.replace(b",", b"\x00,", 3),
                       lambda: data.replace(b"\n", b"\r", 5), lambda: text.encode("utf-32")])()


def long_field(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.choice([b"7", b"a", b"<", b"&", b'"']) * rng.choice([1000, 140_000]) + data[at:]


MUTATORS: list[Callable[[random.Random, bytes], bytes]] = [flip, truncate, swap, huge, odd_date, encoding,
                                                           long_field]


def mutate(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.choice([1, 1, 2, 3])):
        if data:
            data = rng.choice(MUTATORS)(rng, data)
    return data


class Tally:
    """What happened to each input; a crash keeps its seed and exception for the report."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.crashes: list[str] = []
        self.slowest = self.peak = 0.0

    def run(self, label: str, path: Path, fmt: str | None = None) -> None:
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            import_file(path, fmt)
            self.counts["result"] += 1
        except EdgeError:
            self.counts["clean_error"] += 1
        except Exception as exc:  # noqa: BLE001 - anything else is the bug this fuzzer looks for
            self.crashes.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
        finally:
            seconds, peak = time.perf_counter() - t0, tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        self.counts["tried"] += 1
        self.slowest, self.peak = max(self.slowest, seconds), max(self.peak, peak)
        assert seconds < FREEZE_S, (label, seconds)
        assert peak < MAX_PEAK, (label, peak)

    def report(self, artifacts: Path, fmt: str) -> None:
        out = artifacts / "health_fuzz.json"
        figures = json.loads(out.read_text()) if out.exists() else {}
        figures[fmt] = {**self.counts, "crashes": len(self.crashes), "slowest_s": round(self.slowest, 3),
                        "peak_traced_mib": round(self.peak / 2**20, 1)}
        out.write_text(json.dumps(figures, indent=1))
        print(f"\nhealth fuzz {fmt}: {figures[fmt]}")
        assert not self.crashes, self.crashes
        assert self.counts["tried"] >= 20 and self.counts["result"]


@pytest.fixture(scope="module")
def days():
    return generate(7, (), seed=SEED, end=date(2024, 3, 31))[0]


def fuzz_bytes(tmp_path: Path, name: str, data: bytes, tally: Tally, fmt: str | None,
               wrap: Callable[[Path, bytes], Path] | None = None) -> None:
    rng, deadline = random.Random(SEED), time.monotonic() + DEADLINE_S
    for i in range(MAX_INPUTS):
        if time.monotonic() > deadline:
            break
        path = tmp_path / f"{i}" / name
        path.parent.mkdir()
        mutated = mutate(rng, data)
        if wrap is None:
            path.write_bytes(mutated)
        else:
            path = wrap(path, mutated)
        tally.run(f"{name} #{i} (seed {SEED})", path, fmt if i % 2 else None)
        shutil.rmtree(path.parent)


@pytest.mark.parametrize("name", ["d.csv", "export.xml", "export.zip"])
def test_fuzz_text_formats(tmp_path, days, artifacts_dir, name):
    fmt = "csv" if name.endswith(".csv") else "apple"
    src = tmp_path / ("src" + Path(name).suffix)
    (sf.write_csv if fmt == "csv" else sf.write_apple)(src.with_suffix(".csv" if fmt == "csv" else ".xml"), days)
    data = src.with_suffix(".csv" if fmt == "csv" else ".xml").read_bytes()

    def zipped(path: Path, xml: bytes) -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("apple_health_export/export.xml", xml)
        if xml[:1] in b"0123456789":  # now and then damage the archive itself
            path.write_bytes(flip(random.Random(len(xml)), path.read_bytes()))
        return path

    tally = Tally()
    fuzz_bytes(tmp_path, name, data, tally, fmt, zipped if name.endswith(".zip") else None)
    tally.report(artifacts_dir, name)


def test_fuzz_fitbit(tmp_path, days, artifacts_dir):
    src = sf.WRITERS["fitbit"](tmp_path / "src", days)
    for steps in src.glob("steps-*.json"):  # a few hundred minutes keep each import quick under tracemalloc
        steps.write_text(json.dumps(json.loads(steps.read_text())[::20]))
    files = sorted(p.name for p in src.iterdir())
    rng, tally, deadline = random.Random(SEED), Tally(), time.monotonic() + DEADLINE_S
    for i in range(MAX_INPUTS):
        if time.monotonic() > deadline:
            break
        folder = tmp_path / f"fb{i}"
        shutil.copytree(src, folder)
        for name in rng.sample(files, rng.randint(1, 2)):
            (folder / name).write_bytes(mutate(rng, (folder / name).read_bytes()))
        tally.run(f"fitbit #{i} (seed {SEED})", folder, "fitbit" if i % 2 else None)
        shutil.rmtree(folder)
    tally.report(artifacts_dir, "fitbit")


ODD_CELLS = [None, -1, 0, 2**63 - 1, -(2**63), 1e308, -1e308, "12", "x" * 10_000, b"\x00\xff", 86_400_000 * 365 * 500,
             1.5, 99_999_999_999_999]


def sql_edit(rng: random.Random, db_path: Path) -> None:
    """Set random cells of random rows to odd values, or drop a table, as a hostile app might."""
    db = sqlite3.connect(db_path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for _ in range(rng.randint(1, 4)):
        table = rng.choice(tables)
        if rng.random() < 0.1:
            db.execute(f"DROP TABLE {table}")
            tables.remove(table)
            if not tables:
                break
            continue
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        ids = [r[0] for r in db.execute(f"SELECT row_id FROM {table}")]
        for row in rng.sample(ids, min(len(ids), rng.randint(1, 5))):
            try:
                db.execute(f"UPDATE {table} SET {rng.choice(cols)} = ? WHERE row_id = ?", (rng.choice(ODD_CELLS), row))
            except sqlite3.IntegrityError:  # the integer primary key takes only integers
                pass
    db.commit()
    db.close()


def test_fuzz_healthconnect(tmp_path, days, artifacts_dir):
    src = sf.write_healthconnect(tmp_path / "src.db", days)
    rng, tally, deadline = random.Random(SEED), Tally(), time.monotonic() + DEADLINE_S
    for i in range(MAX_INPUTS):
        if time.monotonic() > deadline:
            break
        path = tmp_path / f"hc{i}.db"
        shutil.copy(src, path)
        sql_edit(rng, path)
        if i % 3 == 0:  # and now and then damage the file itself
            path.write_bytes(rng.choice([flip, truncate])(rng, path.read_bytes()))
        tally.run(f"healthconnect #{i} (seed {SEED})", path, "healthconnect" if i % 2 else None)
        path.unlink()
    tally.report(artifacts_dir, "healthconnect")
