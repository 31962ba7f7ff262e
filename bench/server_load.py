"""Load test of `edgesplit serve`: concurrent streaming chat clients on loopback.

C clients each send R streaming chat requests back to back (8 x 20 by default, max_tokens 8).
Every request must either stream to `data: [DONE]` or get a clean OpenAI-style 429. Prints
requests/s, latency and time-to-first-token percentiles, and the server's RSS before and after.

    python bench/server_load.py                      # starts `edgesplit serve` on a free port
    python bench/server_load.py --clients 8 --requests 20 --max-tokens 8 --threads 1 --json
    python bench/server_load.py --url http://127.0.0.1:8080 --token T   # an already running server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROMPTS = ["What is the capital of France?", "Name a primary colour.", "Say hello in Spanish.",
           "What is 2 + 2?", "Give me a word that rhymes with cat.", "What colour is the sky?",
           "Name a fruit.", "What day comes after Monday?"]


@dataclass
class LoadReport:
    clients: int
    requests: int
    ok: int = 0
    rejected: int = 0  # clean 429s
    errors: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    ttfts_s: list[float] = field(default_factory=list)
    completion_tokens: int = 0
    wall_s: float = 0.0

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict:
        return {"clients": self.clients, "requests": self.requests, "ok": self.ok, "rejected_429": self.rejected,
                "errors": len(self.errors), "wall_s": round(self.wall_s, 2),
                "requests_per_s": round(self.requests_per_s, 2),
                "completion_tokens_per_s": round(self.completion_tokens / self.wall_s, 1) if self.wall_s else 0.0,
                "latency_p50_s": _pct(self.latencies_s, 50), "latency_p95_s": _pct(self.latencies_s, 95),
                "ttft_p50_s": _pct(self.ttfts_s, 50), "ttft_p95_s": _pct(self.ttfts_s, 95)}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


async def one_request(client: httpx.AsyncClient, report: LoadReport, prompt: str, max_tokens: int) -> None:
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    ttft, done, usage = None, False, None
    async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        if resp.status_code == 429:
            err = json.loads(await resp.aread()).get("error", {})
            if err.get("type") and err.get("message"):
                report.rejected += 1
            else:
                report.errors.append(f"429 without an OpenAI error object: {err}")
            return
        if resp.status_code != 200:
            report.errors.append(f"HTTP {resp.status_code}: {(await resp.aread())[:200]!r}")
            return
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                report.errors.append(f"stream error: {event['error']}")
                return
            if ttft is None and any(c.get("delta", {}).get("content") for c in event.get("choices", [])):
                ttft = time.perf_counter() - t0
            usage = event.get("usage") or usage
    if not done:
        report.errors.append("stream ended without [DONE]")
        return
    report.ok += 1
    report.latencies_s.append(time.perf_counter() - t0)
    if ttft is not None:
        report.ttfts_s.append(ttft)
    report.completion_tokens += (usage or {}).get("completion_tokens", 0)


async def run_load(url: str, clients: int = 8, requests: int = 20, max_tokens: int = 8,
                   token: str | None = None) -> LoadReport:
    """`clients` concurrent streaming clients, each sending `requests` chat requests in turn."""
    report = LoadReport(clients, clients * requests)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(i: int, client: httpx.AsyncClient) -> None:
        for j in range(requests):
            try:
                await one_request(client, report, PROMPTS[(i + j) % len(PROMPTS)], max_tokens)
            except (httpx.HTTPError, json.JSONDecodeError) as exc:
                report.errors.append(f"{type(exc).__name__}: {exc}")

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(i, client) for i in range(clients)))
        report.wall_s = time.perf_counter() - t0
    return report


def start_server(threads: int | None, max_queue: int, extra: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """`edgesplit serve --port 0` in a subprocess; returns it and the URL it printed."""
    exe = Path(sys.executable).with_name("edgesplit")
    cmd = [str(exe), "serve", "--port", "0", "--max-queue", str(max_queue), *(extra or [])]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            text=True, env={**os.environ})
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"edgesplit serve printed no URL: {line!r}")
    return proc, match.group(0)


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def measure(url: str, pid: int | None, args: argparse.Namespace) -> dict:
    """Warm up, then the load; RSS of the server process around it when we know its pid."""
    asyncio.run(run_load(url, clients=2, requests=4, max_tokens=args.max_tokens, token=args.token))
    before = rss_mb(pid) if pid else None
    report = asyncio.run(run_load(url, args.clients, args.requests, args.max_tokens, args.token))
    after = rss_mb(pid) if pid else None
    out = report.summary()
    if before is not None:
        out.update(rss_before_mb=round(before, 1), rss_after_mb=round(after, 1),
                   rss_growth_pct=round(100 * (after - before) / before, 2))
    out["error_samples"] = report.errors[:5]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=None, help="a running server (default: start one on a free port)")
    ap.add_argument("--token", default=None)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=20, help="per client")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads of the started server "
                    "(1 is robust on a shared machine; 0 = all physical cores)")
    ap.add_argument("--max-queue", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.threads or None, args.max_queue)
    try:
        out = measure(url, proc.pid if proc else None, args)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    if args.json:
        print(json.dumps(out))
        return
    for key, value in out.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()

