"""Generation on the local model: prompt from the task and the app doc, then plan -> script ->
execute, with up to two repairs that show the model the failing line and the error.

    engine = Engine.load("default")
    run = solve(engine, "clock", "Turn off the Work alarm")
    run.ok, run.script, [str(a) for a in run.actions], run.state
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from edge import Engine

from .doc import AppDoc, render_doc
from .env import Action, UIEnv
from .errors import ActionError, ScriptError
from .grammar import script_grammar
from .interp import Interpreter, Limits
from .script import strip_fences
from .sim import app_doc, load_app

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
    shots = []
    for ex in doc.examples:
        shots.append(f"Task: {ex.task}\nScript:\n# plan: {ex.plan}\n{ex.script}")
    system = f"{RULES}\n\n{render_doc(doc)}\n\nExamples:\n" + "\n\n".join(shots)
    return [{"role": "system", "content": system}, {"role": "user", "content": f"Task: {task}\nScript:"}]


def repair_message(error: ScriptError) -> str:
    where = f"line {error.line}: `{error.source_line}`\n" if error.line else ""
    return f"The script stopped at {where}Error: {error.reason}\nWrite the whole corrected script."


def execute(app_name: str, script: str, limits: Limits | None = None) -> tuple[UIEnv, Any]:
    """Run `script` against a fresh instance of the app; returns (env, RunResult)."""
    env = UIEnv(load_app(app_name))
    result = Interpreter(env, limits).run(script)
    if result.ok and env.script_actions == 0:
        result.ok, result.error = False, ActionError("the script took no action: act on the doc's elements")
    return env, result


def generate_script(engine: Engine, messages: list[dict], **kwargs: Any) -> tuple[str, int, int, float]:
    """Stream a script; stop at the first line that repeats the line before it.

    Small models fall into repeating the last line until the token budget runs out; a repeated
    line is dropped and ends the script. Returns (text, prompt tokens, completion tokens, ms).
    """
    t0, text, n_out, prompt_tokens = time.perf_counter(), "", 0, 0
    for chunk in engine.stream(messages, **kwargs):
        if chunk.result is not None:
            prompt_tokens = chunk.result.prompt_tokens
        text += chunk.text
        n_out += len(chunk.token_ids)
        lines = text.split("\n")
        if len(lines) >= 3 and lines[-2] == lines[-3] and lines[-2].strip():
            text = "\n".join(lines[:-2]) + "\n"
            break
    prompt_tokens = prompt_tokens or len(engine.tokenize(messages))
    return text, prompt_tokens, n_out, (time.perf_counter() - t0) * 1000


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
        text, n_in, n_out, gen_ms = generate_script(engine, messages, max_tokens=max_tokens, temperature=0.0,
                                                    seed=seed, **extra)
        script = strip_fences(text)
        t0 = time.perf_counter()
        env, result = execute(app_name, script)
        exec_ms = (time.perf_counter() - t0) * 1000
        run.attempts.append(Attempt(text, script, result.ok, result.error_dict(), [a.to_dict() for a in env.log],
                                    n_in, n_out, round(gen_ms, 1), round(exec_ms, 2)))
        run.state, run.actions = env.state, env.log
        if result.ok:
            break
        messages = [*messages, {"role": "assistant", "content": text},
                    {"role": "user", "content": repair_message(result.error)}]
    return run
