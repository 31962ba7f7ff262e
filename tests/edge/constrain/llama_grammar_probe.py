"""Run llama.cpp's own grammar engine on GBNF texts in a child process, so that a crash is a
test result and not a dead pytest.

For each grammar the child builds llama.cpp's grammar sampler over the default model's
vocabulary (vocab only, no weights) and walks it with random logits over a candidate set of
single-character and some longer tokens: the texts it ends with are strings llama.cpp's
engine itself accepts, which the caller can check against the schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


class ProbeCrash(AssertionError):
    """The child died (signal or abort) while llama.cpp handled a grammar."""


def probe(gbnfs: list[str], walks: int = 2, seed: int = 0, timeout: float = 300) -> list[dict]:
    """[{"loaded": bool, "texts": [...], "unfinished": int}] per grammar; ProbeCrash if llama.cpp crashed."""
    jobs = json.dumps({"gbnfs": gbnfs, "walks": walks, "seed": seed})
    proc = subprocess.run([sys.executable, __file__], input=jobs, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        done = proc.stderr.count("\n") and proc.stderr.strip().splitlines()[-1]
        raise ProbeCrash(f"llama.cpp child exited with {proc.returncode} (last progress: {done!r})\n"
                         f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _candidates(llm, eog: list[int], rng) -> list[int]:
    single, multi = [], []
    for tid in range(llm.n_vocab()):
        piece = llm.detokenize([tid], special=False)
        if len(piece) == 1 and (32 <= piece[0] < 127 or piece == b"\n"):
            single.append(tid)
        elif 1 < len(piece) <= 8 and piece.isascii():
            multi.append(tid)
    return single + rng.sample(multi, min(300, len(multi))) + eog


def _walk(lib, smpl, cands: list[int], eog: set[int], pieces: dict[int, str], rng) -> str | None:
    """One random path through the grammar: the text at end-of-generation, or None when cut off."""
    n = len(cands)
    arr_data = (lib.llama_token_data * n)()
    text = []
    for _ in range(300):
        for i, tid in enumerate(cands):
            arr_data[i].id, arr_data[i].logit, arr_data[i].p = tid, rng.random(), 0.0
        arr = lib.llama_token_data_array(data=arr_data, size=n, selected=-1, sorted=False)
        lib.llama_sampler_apply(smpl, arr)
        allowed = [arr_data[i].id for i in range(arr.size) if arr_data[i].logit != float("-inf")]
        if not allowed:
            return None
        ends = [t for t in allowed if t in eog]
        if ends and (len(ends) == len(allowed) or rng.random() < 0.3):
            return "".join(text)
        closing = [t for t in allowed if t not in eog and pieces[t] in ('"', "]", "}", "0", "1")]
        choice = rng.choice(closing if closing and rng.random() < 0.5 else [t for t in allowed if t not in eog])
        lib.llama_sampler_accept(smpl, choice)
        text.append(pieces[choice])
    return None


def _main() -> None:
    import random

    from edge.models import default_model_path
    from edge.runtimes import llamacpp

    jobs = json.loads(sys.stdin.read())
    rng = random.Random(jobs["seed"])
    lib = llamacpp.library()
    llm = llamacpp.open_model(default_model_path(), vocab_only=True)
    vocab = llamacpp.Vocab(llm)
    eog = [t for t in range(vocab.size) if vocab.is_eog(t)]
    cands = _candidates(llm, eog, rng)
    pieces = {t: llm.detokenize([t], special=False).decode("utf-8", "replace") for t in cands}
    out = []
    for i, gbnf in enumerate(jobs["gbnfs"]):
        print(f"grammar {i}", file=sys.stderr, flush=True)
        smpl = lib.llama_sampler_init_grammar(vocab.handle, gbnf.encode("utf-8"), b"root")
        if not smpl:
            out.append({"loaded": False, "texts": [], "unfinished": 0})
            continue
        texts, unfinished = [], 0
        for _ in range(jobs["walks"]):
            lib.llama_sampler_reset(smpl)
            text = _walk(lib, smpl, cands, set(eog), pieces, rng)
            if text is None:
                unfinished += 1
            else:
                texts.append(text)
        lib.llama_sampler_free(smpl)
        out.append({"loaded": True, "texts": texts, "unfinished": unfinished})
    print(json.dumps(out))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _main()
