"""PII detector benchmark: recall per entity type on the synthetic corpus, false positives on
PII-free text, and detection throughput.

    .venv/bin/python bench/pii_detector.py [--n 60] [--seed 7] [--json]

Recall is reported twice: with each sample's profile (the user's own names and contacts, as
the product uses it) and without any profile (validated patterns and name cues only).
"""

from __future__ import annotations

import argparse
import json
import time

from cloud_bridge.entities import entities_from_dict
from cloud_bridge.pii import Detector
from cloud_bridge.synth import FIRST, LAST, PII_FREE, corpus, recall_by_type

# names with no cue and no profile: what the heuristics cannot see (reported, not a goal)
NO_CUE = ("{v} brought soup yesterday.", "Yesterday, {v} and I went hiking.", "I think {v} is right.")


def no_cue_person_recall() -> float:
    hits = total = 0
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=False)):
        name = f"{first} {last}"
        text = NO_CUE[i % len(NO_CUE)].format(v=name)
        found = Detector().detect(text)
        hits += any(f.type == "PERSON" and f.value == name for f in found)
        total += 1
    return hits / total


def run(n: int, seed: int) -> dict:
    samples = corpus(n, seed)
    t0 = time.perf_counter()
    with_profile = recall_by_type(samples, lambda s: Detector(known=entities_from_dict(s.profile)).detect(s.context))
    elapsed = time.perf_counter() - t0
    without = recall_by_type(samples, lambda s: Detector().detect(s.context))
    false_pos = Detector().detect(PII_FREE)
    chars = sum(len(s.context) for s in samples)
    return {
        "samples": n, "seed": seed,
        "recall_with_profile": {k: round(f / t, 4) for k, (f, t) in with_profile.items()},
        "counts_with_profile": {k: f"{f}/{t}" for k, (f, t) in with_profile.items()},
        "recall_without_profile": {k: round(f / t, 4) for k, (f, t) in without.items()},
        "person_recall_no_cue_no_profile": round(no_cue_person_recall(), 4),
        "false_positives": len(false_pos),
        "false_positive_findings": [{"type": f.type, "value": f.value} for f in false_pos],
        "pii_free_chars": len(PII_FREE),
        "throughput_chars_per_s": round(chars / elapsed) if elapsed > 0 else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = run(args.n, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'type':<15} {'recall':>8} {'found':>9} {'no profile':>11}")
    for kind, r in report["recall_with_profile"].items():
        print(f"{kind:<15} {r:>8.3f} {report['counts_with_profile'][kind]:>9} "
              f"{report['recall_without_profile'][kind]:>11.3f}")
    print(f"PERSON recall for names with no cue and no profile: {report['person_recall_no_cue_no_profile']:.3f}")
    print(f"false positives on {report['pii_free_chars']} chars of PII-free text: {report['false_positives']} "
          f"{report['false_positive_findings']}")
    print(f"throughput: {report['throughput_chars_per_s']} chars/s")


if __name__ == "__main__":
    main()
