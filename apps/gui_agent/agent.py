"""Generation on the local model: prompt from the task and the app doc, then plan -> script ->
execute, with up to two repairs that show the model the failing line and the error.

A script cut by the token budget (finish_reason "length") is never run: half an element name or
half a line is not the script the model meant. The attempt is reported as truncated and the
repair asks for a shorter script.

    engine = Engine.load("default")
    run = solve(engine, "clock", "Turn off the Work alarm")
    run.ok, run.script, [str(a) for a in run.actions], run.state
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from edge import Engine

from .doc import AppDoc, render_doc
from .env import Action
from .errors import ScriptError, ScriptTruncated
from .grammar import script_grammar
from .interp import Limits, RunResult
from .sandbox import EnvRecord, run_script
from .script import strip_fences
from .sim import app_doc

RULES = """Write a script that does the task in the app. Script API:
- $element.tap()  $element.long_tap()  $element.set_text("text")  $element.select("option")
- list rows: $list.match("text").tap()  $list[0].tap()  (also .long_tap())
- back() goes back. Elements on other screens are reached automatically.
First write a one-line plan as a # comment, then one action per line.
Use only the elements below. Type text exactly as the task says it."""


@dataclass
class Attempt:
    text: str
    script: str
    ok: bool
    error: dict | None
    actions: list[dict]
    prompt_tokens: int
    completion_tokens: int
    gen_ms: float
    exec_ms: float
    finish_reason: str = "stop"  # the model's ("stop", "length") or "repeat" (a repeated line ended it)
    truncated: bool = False  # cut by the token budget: not executed


@dataclass
class AgentRun:
    app: str
    task: str
    constrained: bool
    attempts: list[Attempt] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].ok

    @property
    def script(self) -> str:
        return self.attempts[-1].script if self.attempts else ""

    def metrics(self) -> dict:
        a = self.attempts
        return {"tokens_in": sum(x.prompt_tokens for x in a), "tokens_out": sum(x.completion_tokens for x in a),
                "latency_ms": round(sum(x.gen_ms + x.exec_ms for x in a), 1), "repairs": max(0, len(a) - 1)}

    def to_dict(self) -> dict:
        return {"app": self.app, "task": self.task, "constrained": self.constrained, "ok": self.ok,
                "script": self.script, "actions": [x.to_dict() for x in self.actions], "state": self.state,
                "attempts": [vars(x) for x in self.attempts], **self.metrics()}


def build_messages(doc: AppDoc, task: str) -> list[dict]:
    """Rules, the app's doc and examples first, the task last: tasks on one app share a cached prefix."""
    shots = []
    for ex in doc.examples:
        shots.append(f"Task: {ex.task}\nScript:\n# plan: {ex.plan}\n{ex.script}")
    system = f"{RULES}\n\n{render_doc(doc)}\n\nExamples:\n" + "\n\n".join(shots)
    return [{"role": "system", "content": system}, {"role": "user", "content": f"Task: {task}\nScript:"}]


def repair_message(error: ScriptError) -> str:
    where = f"line {error.line}: `{error.source_line}`\n" if error.line else ""
    return f"The script stopped at {where}Error: {error.reason}\nWrite the whole corrected script."


def execute(app_name: str, script: str, limits: Limits | None = None) -> tuple[EnvRecord, RunResult]:
    """Run `script` against a fresh instance of the app in a sandbox worker process (sandbox.py).

    Returns (env, result): env.log (actions), env.screen, env.state; result.ok, .error, .output.
    """
    return run_script(app_name, script, limits)


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    ms: float
    finish_reason: str


def generate_script(engine: Engine, messages: list[dict], **kwargs: Any) -> Generation:
    """Stream a script; stop at the first line that repeats the line before it.

    Small models fall into repeating the last line until the token budget runs out; a repeated
    line is dropped and ends the script (finish_reason "repeat").
    """
    t0, text, n_out, prompt_tokens, finish = time.perf_counter(), "", 0, 0, "stop"
    with closing(engine.stream(messages, **kwargs)) as stream:  # closed at once when we stop early
        for chunk in stream:
            if chunk.result is not None:
                prompt_tokens = chunk.result.prompt_tokens
            finish = chunk.finish_reason or (chunk.result.finish_reason if chunk.result is not None else finish)
            text += chunk.text
            n_out += len(chunk.token_ids)
            lines = text.split("\n")
            if len(lines) >= 3 and lines[-2] == lines[-3] and lines[-2].strip():
                text, finish = "\n".join(lines[:-2]) + "\n", "repeat"
                break
    prompt_tokens = prompt_tokens or len(engine.tokenize(messages))
    return Generation(text, prompt_tokens, n_out, (time.perf_counter() - t0) * 1000, finish)


def truncation(gen: Generation, script: str, constrained: bool, max_tokens: int) -> ScriptTruncated | None:
    """The error for a script cut by the token budget; None when the script ended on its own."""
    if gen.finish_reason != "length":
        return None
    if not constrained and gen.text.count("```") >= 2:
        return None  # the fenced script closed before the budget ran out; only prose after it was cut
    lines = script.split("\n")
    return ScriptTruncated(f"the script was cut by the token limit ({max_tokens} tokens) before it ended, so "
                           "it was not run; write a shorter script", len(lines), lines[-1].strip())


def solve(engine: Engine, app_name: str, task: str, constrain: bool = True, max_repairs: int = 2,
          max_tokens: int = 96, seed: int = 0) -> AgentRun:
    """Generate a script for `task` (greedy), run it on a fresh app, repair up to `max_repairs` times.

    Each attempt starts from the app's initial state; the run keeps the last attempt's state and actions.
    """
    doc = app_doc(app_name)
    messages = build_messages(doc, task)
    extra = {"grammar": script_grammar(doc)} if constrain else {"stop": ("\nTask:",)}
    run = AgentRun(app_name, task, constrain)
    for _ in range(max_repairs + 1):
        gen = generate_script(engine, messages, max_tokens=max_tokens, temperature=0.0, seed=seed, **extra)
        script = strip_fences(gen.text)
        t0 = time.perf_counter()
        cut = truncation(gen, script, constrain, max_tokens)
        env, result = (EnvRecord(), RunResult(False, cut)) if cut else execute(app_name, script)
        exec_ms = (time.perf_counter() - t0) * 1000
        run.attempts.append(Attempt(gen.text, script, result.ok, result.error_dict(), [a.to_dict() for a in env.log],
                                    gen.prompt_tokens, gen.completion_tokens, round(gen.ms, 1), round(exec_ms, 2),
                                    gen.finish_reason, cut is not None))
        run.state, run.actions = env.state, env.log
        if result.ok:
            break
        messages = [*messages, {"role": "assistant", "content": gen.text},
                    {"role": "user", "content": repair_message(result.error)}]
    return run
