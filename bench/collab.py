"""Collaboration policies side by side: how much of the cloud's answer each one recovers, per call.

    PYTHONPATH=$PWD .venv/bin/python bench/collab.py [--n 4] [--tokens 32] [--json]

The "cloud" is the default model (Q4_1) behind a real edgesplit server on 127.0.0.1 (dequantizing
it to f16 adds no information, so it is used as is); the "local" model is a q2_k requantization of
the same weights, so both share a tokenizer. Each instruction carries a private context (the
privacy corpus); logit mode runs with every policy. Reported per policy: agreement with the
cloud-only answer (token F1 over words, exact-match rate), cloud calls per 100 generated tokens,
bytes sent, wall time, and for batched policies the tokens kept per drafted run (how far a draft
got before the fused pick left it). Greedy decoding throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from cloud_bridge.client import CloudClient, CloudConfig
from cloud_bridge.cogenesis import CoGenesis, CollabOptions
from cloud_bridge.entities import entities_from_dict
from cloud_bridge.fusion import Schedule
from cloud_bridge.pii import Detector
from cloud_bridge.policies import UNCERTAINTY, Always, Gate, Never
from cloud_bridge.runs import DRAFTS, check_draft
from cloud_bridge.synth import corpus
from edge import Engine, RuntimeOptions
from edge.errors import InvalidRequestError
from edge.models import default_model_path


@contextmanager
def serve_cloud(engine: Engine):
    """The edgesplit server app on a free 127.0.0.1 port, in a thread; yields its /v1 URL."""
    import uvicorn

    from edge.server.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engines={"default": engine}, apps={}), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def local_model(workdir: Path, quant: str) -> Path:
    from edge.runtimes.llamacpp import quantize

    out = workdir / f"local-{quant}.gguf"
    quantize(default_model_path(), out, quant, threads=2, allow_requantize=True)
    return out


def token_f1(a: str, b: str) -> float:
    x, y = Counter(a.split()), Counter(b.split())
    common = sum((x & y).values())
    if not common:
        return 1.0 if not x and not y else 0.0
    p, r = common / sum(x.values()), common / sum(y.values())
    return 2 * p * r / (p + r)


def policies(metric: str, thresholds: list[float], batch: int, batched: bool = True,
             gate_weight: float | None = None, drafts: tuple[str, ...] = DRAFTS[1:] + DRAFTS[:1]) -> dict[str, dict]:
    """Policy name -> CollabOptions fields; a batched policy names its per-token twin in `same_as`."""
    gate = f"gated {metric}>={thresholds[0]:g}"
    table: dict[str, dict] = {
        "local only": {"policy": Never()},
        "cloud only": {"policy": Always(), "weight": 1.0},
        "every step (weight 0.5)": {"policy": Always()},
        "fixed schedule": {"policy": Schedule()},
        **{f"gated {metric}>={t:g}": {"policy": Gate(metric, t), "weight": gate_weight} for t in thresholds},
    }
    for twin in ("every step (weight 0.5)", "fixed schedule", gate) if batched else ():
        for draft in drafts:
            table[f"batched {twin}, {draft} drafts (runs of {batch})"] = {
                **table[twin], "batch": batch, "draft": draft, "same_as": twin}
    return table


def fresh_start(engine: Engine) -> None:
    """Leave only the first prompt token in the in-process prefix cache, so that every answer's
    prompt is evaluated the same way: llama.cpp's batched and single-token kernels differ in the
    last bits, and a q2_k model turns that into other greedy picks at near-ties."""
    engine.next_token_logits(engine.encode("A", add_bos=True)[:1])


def run(args: argparse.Namespace) -> list[dict]:
    opts = RuntimeOptions(n_threads=args.threads)
    # n_batch 1: the cloud evaluates every token alone, so its scores cannot depend on how requests
    # batched them (an echoed run vs one token per call)
    cloud_opts = RuntimeOptions(n_threads=args.threads, n_batch=args.cloud_n_batch)
    samples = [s.head(3) for s in corpus(args.offset + args.n)[args.offset:]]
    with tempfile.TemporaryDirectory() as tmp, Engine.load("default", options=cloud_opts) as cloud_engine:
        local = Engine.load(str(local_model(Path(tmp), args.local_quant)), options=opts)
        with serve_cloud(cloud_engine) as url:
            client = CloudClient(CloudConfig(url=url, timeout=300.0, retries=0))
            answers: dict[str, list] = {}
            table = policies(args.metric, args.thresholds, args.batch, not args.no_batched, args.gate_weight, args.drafts)
            for name, spec in table.items():
                kw = {k: v for k, v in spec.items() if k != "same_as"}
                rows = []
                for sample in samples:
                    session = CoGenesis(local, client, "logits", Detector(known=entities_from_dict(sample.profile)))
                    fresh_start(local)
                    t0 = time.perf_counter()
                    res = session.write(sample.instruction, sample.context, CollabOptions(
                        max_tokens=args.tokens, temperature=0.0, top_k=args.top_k, **kw))
                    rows.append((res, time.perf_counter() - t0))
                answers[name] = rows
        local.close()
    reference = [r.text for r, _ in answers["cloud only"]]
    out = []
    for name, rows in answers.items():
        tokens = sum(r.completion_tokens for r, _ in rows) or 1
        twin = table[name].get("same_as")
        out.append({
            "policy": name,
            "token_f1_vs_cloud": round(statistics.mean(token_f1(r.text, ref) for (r, _), ref in zip(rows, reference,
                                                                                                  strict=True)), 3),
            "exact_match": round(sum(r.text == ref for (r, _), ref in zip(rows, reference, strict=True)) / len(rows), 3),
            "consulted_step_share": round(sum(r.consulted_steps for r, _ in rows) / max(1, sum(r.steps for r, _ in rows)), 3),
            "cloud_calls_per_100_tokens": round(100 * sum(r.cloud_calls for r, _ in rows) / tokens, 1),
            "bytes_sent": sum(r.bytes_sent for r, _ in rows),
            # how far runs got before the fused pick left the draft: the ceiling on calls saved
            "tokens_per_run": round(tokens / runs, 2) if (runs := sum(r.runs for r, _ in rows)) else None,
            "wall_s": round(sum(t for _, t in rows), 2),
            "same_as_per_token": None if twin is None else
            f"{sum(a.token_ids == b.token_ids for (a, _), (b, _) in zip(rows, answers[twin], strict=True))}/{len(rows)}",
        })
    return out


def _drafts(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    try:
        for name in names:
            check_draft(name)
    except InvalidRequestError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="instructions (privacy corpus samples)")
    ap.add_argument("--offset", type=int, default=0, help="skip this many corpus samples (a held-out set)")
    ap.add_argument("--tokens", type=int, default=32, help="tokens per answer")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--metric", default="entropy", choices=sorted(UNCERTAINTY))
    ap.add_argument("--thresholds", type=lambda s: [float(x) for x in s.split(",")], default=[5.0, 4.5, 4.0],
                    help="uncertainty thresholds for the gated policy, comma-separated (entropy: nats)")
    ap.add_argument("--batch", type=int, default=8, help="draft run length for batched verification")
    ap.add_argument("--local-quant", default="q2_k")
    ap.add_argument("--cloud-n-batch", type=int, default=512,
                    help="the cloud's llama.cpp batch size; 1 makes its scores independent of request batching")
    ap.add_argument("--no-batched", action="store_true", help="per-token policies only")
    ap.add_argument("--drafts", type=_drafts, default=DRAFTS[1:] + DRAFTS[:1],
                    help=f"batched policies' draft sources, comma-separated (default: {','.join(DRAFTS[1:] + DRAFTS[:1])})")
    ap.add_argument("--gate-weight", type=float, default=None,
                    help="the cloud's weight at the steps a gate consults (default: the gate's own, 1: the cloud "
                         "picks, as in FS-GEN)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    table = run(args)
    if args.json:
        print(json.dumps(table, indent=2))
        return
    cols = list(table[0])
    print(" | ".join(cols))
    for row in table:
        print(" | ".join(str(row[c]) for c in cols))


if __name__ == "__main__":
    main()
