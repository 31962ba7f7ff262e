"""`edgesplit bench --speculative`: speculative against plain decoding on four workloads, interleaved.

The same prompts run greedily on two engines of the same model, one with `speculative = MODE` and
one with it off, alternating which goes first; each reports decode tok/s (first to last token) and
the speculative side its acceptance. Greedy outputs are compared token for token.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from .engine import Engine, GenerationResult
from .errors import InvalidRequestError

_DOC = ("The Pixel Weather app shows the temperature, the chance of rain and the wind speed for the "
        "next seven days. Tap a day to see hourly values; swipe left to compare two cities. Alerts for "
        "storms and heat arrive as notifications unless you turn them off in Settings > Alerts.")
# the GUI agent's shape (apps/gui_agent): rules + screen doc + an example, then the task; the answer
# is a plan comment and script lines held to a grammar over the doc's element names, as the app does
_ELEMENTS = {"search_button": "tap", "query_input": "set_text", "settings_button": "tap",
             "results_list": "tap", "units_dropdown": "tap", "alerts_switch": "tap"}
_AGENT = [{"role": "system", "content": (
    "You control a phone app by writing a script. Each line calls one element of the screen:\n"
    + "".join(f"  ${n}: {a}\n" for n, a in _ELEMENTS.items())
    + "Actions: $name.tap(), $name.set_text(\"text\"), back(). Start with a one-line # plan.\n"
    "Example task: search for weather in Paris and open the results.\n"
    "# search Paris, open results\n$search_button.tap()\n$query_input.set_text(\"weather in Paris\")\n"
    "$results_list.tap()\n")},
    {"role": "user", "content": "Task: search for weather in Berlin, open the results, then go back."}]


def _agent_grammar():
    from .constrain.grammar import Grammar, Lit, Ref, Rep, alt, chars, seq

    calls = [seq(Lit(f"${n}"), Lit(".tap()") if a == "tap" else
                 seq(Lit('.set_text("'), Rep(chars('"\\\n', negated=True), 0, 40), Lit('")')))
             for n, a in _ELEMENTS.items()]
    return Grammar({"root": seq(Lit("# "), Rep(chars("\n", negated=True), 0, 80), Lit("\n"), Rep(Ref("line"), 1, 8)),
                    "line": seq(alt(*calls, Lit("back()")), Lit("\n"))})


_SCHEMA = {"type": "object", "properties": {
    "app": {"type": "string"}, "days": {"type": "integer"},
    "features": {"type": "array", "items": {"type": "string"}, "maxItems": 4}},
    "required": ["app", "days", "features"], "additionalProperties": False}


@dataclass(frozen=True)
class Workload:
    name: str
    prompt: str | list[dict]
    json_schema: dict | None = None
    grammar: Callable[[], object] | None = None  # built when run (the IR is not imported on CLI start)


WORKLOADS = (
    Workload("agent script", _AGENT, grammar=_agent_grammar),
    Workload("json schema", [{"role": "user", "content": f"Describe this app as JSON (app, days, features).\n{_DOC}"}],
             _SCHEMA),
    Workload("grounded rewrite", [{"role": "user", "content": f"Rewrite this text in the second person:\n{_DOC}"}]),
    Workload("open-ended story", [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]),
)


def _run(engine: Engine, w: Workload, n: int) -> GenerationResult:
    return engine.generate(w.prompt, max_tokens=n, temperature=0.0, json_schema=w.json_schema,
                           grammar=None if w.grammar is None else w.grammar())


def _pair_rows(plain: Engine, spec: Engine, w: Workload, gen_tokens: int, repeat: int,
               progress: Callable[[str], None]) -> dict:
    _run(plain, w, gen_tokens)  # warm-up: prompt in the cache for both
    if _run(spec, w, gen_tokens).speculation is None:
        raise InvalidRequestError(f"{spec.name} decodes {w.name!r} plainly with speculative = {spec.options.speculative!r} "
                                  "(under auto: an int8/int4/ternary ONNX bundle, llama.cpp without flash attention or not "
                                  "built by scripts/setup.sh, a GGUF whose batched rows are not its one-token rows on this "
                                  "build (K-quants, Q5_0); an encoder-decoder model): "
                                  "nothing to compare; pass --speculative on, ngram or recycle to ask for it by name")
    p_rates, s_rates, stats, same = [], [], [], True
    for i in range(repeat):
        order = (plain, spec) if i % 2 == 0 else (spec, plain)
        res = {id(e): _run(e, w, gen_tokens) for e in order}
        a, b = res[id(plain)], res[id(spec)]
        p_rates.append(a.timings.decode_tok_s)
        s_rates.append(b.timings.decode_tok_s)
        stats.append(b.speculation)
        same &= a.token_ids == b.token_ids
        progress(f"{w.name} {i + 1}/{repeat}")
    drafted, accepted = sum(s.drafted for s in stats), sum(s.accepted for s in stats)
    plain_rate, spec_rate = statistics.median(p_rates), statistics.median(s_rates)
    return {"workload": w.name, "tokens": a.completion_tokens, "plain_tok_s": round(plain_rate, 2),
            "spec_tok_s": round(spec_rate, 2), "speedup": round(spec_rate / plain_rate, 3) if plain_rate else 0.0,
            "acceptance_rate": round(accepted / drafted, 3) if drafted else 0.0,
            "mean_accepted_length": round(accepted / max(1, sum(s.draft_steps for s in stats)), 3),
            "tokens_per_step": round(sum(s.emitted for s in stats) / max(1, sum(s.steps for s in stats)), 3),
            "identical": same}


def run_spec_bench(load: Callable[[str], Engine], mode: str, gen_tokens: int, repeat: int,
                   progress: Callable[[str], None] = lambda _: None) -> list[dict]:
    """One row per workload; `load(mode)` loads the model with `speculative = mode`."""
    plain, spec = load("off"), load(mode)
    try:
        return [_pair_rows(plain, spec, w, gen_tokens, repeat, progress) for w in WORKLOADS]
    finally:
        plain.close()
        spec.close()


def format_spec_table(rows: list[dict], mode: str) -> str:
    head = f"{'workload':<18} {'plain tok/s':>11} {mode + ' tok/s':>11} {'speedup':>7} {'accept':>6} " \
           f"{'acc.len':>7} {'tok/step':>8}  identical"
    lines = [head] + [f"{r['workload']:<18} {r['plain_tok_s']:>11.1f} {r['spec_tok_s']:>11.1f} {r['speedup']:>6.2f}x "
                      f"{r['acceptance_rate']:>6.2f} {r['mean_accepted_length']:>7.2f} {r['tokens_per_step']:>8.2f}  "
                      f"{'yes' if r['identical'] else 'NO'}" for r in rows]
    return "\n".join(lines)
