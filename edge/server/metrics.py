"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

Counters and histograms are updated from the event loop and read by `GET /metrics`; a lock
keeps a scrape consistent with a worker thread updating at the same time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Counter:
    kind = "counter"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: Sequence[str] = (), amount: float = 1.0) -> None:
        key = tuple(str(v) for v in labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def samples(self) -> Iterable[str]:
        for key, v in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, key)} {_num(v)}"


class Gauge(Counter):
    kind = "gauge"

    def set(self, labels: Sequence[str], value: float) -> None:
        self.values[tuple(str(v) for v in labels)] = float(value)


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = (),
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self.buckets = tuple(sorted(buckets)) + (math.inf,)
        self.series: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., sum, count

    def observe(self, labels: Sequence[str], value: float) -> None:
        key = tuple(str(v) for v in labels)
        s = self.series.setdefault(key, [0.0] * (len(self.buckets) + 2))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                s[i] += 1
        s[-2] += value
        s[-1] += 1

    def samples(self) -> Iterable[str]:
        for key, s in sorted(self.series.items()):
            for i, bound in enumerate(self.buckets):
                le = 'le="' + _num(bound) + '"'
                yield f"{self.name}_bucket{_labels(self.labelnames, key, le)} {_num(s[i])}"
            yield f"{self.name}_sum{_labels(self.labelnames, key)} {_num(s[-2])}"
            yield f"{self.name}_count{_labels(self.labelnames, key)} {_num(s[-1])}"


class Metrics:
    """Everything `/metrics` reports."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = Counter("edgesplit_http_requests_total", "HTTP requests by method, route and status.",
                                ("method", "route", "status"))
        self.latency = Histogram("edgesplit_http_request_duration_seconds",
                                 "Time from request to the last byte of the response.", ("route",))
        self.tokens = Counter("edgesplit_tokens_total", "Tokens processed, by model and kind (prompt, completion).",
                              ("model", "kind"))
        self.generations = Counter("edgesplit_generations_total", "Finished generations by model and finish reason.",
                                   ("model", "finish_reason"))
        self.ttft = Histogram("edgesplit_time_to_first_token_seconds",
                              "Time from arrival (queue wait included) to the first generated text.", ("model",))
        self.completion_tokens = Histogram("edgesplit_completion_tokens", "Tokens generated per request.",
                                           ("model",), TOKEN_BUCKETS)
        self.rejected = Counter("edgesplit_rejected_total", "Requests refused: queue full, timeout, disconnect.",
                                ("model", "reason"))
        self.queue_depth = Gauge("edgesplit_queue_depth", "Requests running or waiting, per model.", ("model",))
        self.loaded = Gauge("edgesplit_model_loaded", "1 when the model is loaded in memory.", ("model",))

    def all(self) -> list:
        return [self.requests, self.latency, self.tokens, self.generations, self.ttft, self.completion_tokens,
                self.rejected, self.queue_depth, self.loaded]

    def render(self) -> str:
        lines: list[str] = []
        with self.lock:
            for m in self.all():
                lines += [f"# HELP {m.name} {m.help}", f"# TYPE {m.name} {m.kind}", *m.samples()]
        return "\n".join(lines) + "\n"
