"""/v1/completions with echo: every prompt token scored, as collaboration's batched verification needs."""

from __future__ import annotations

import math

from edge.engine import Engine

PROMPT = "The capital of France is Paris. The capital of Italy is"


def _echo(server, **body) -> dict:
    with server.client() as c:
        resp = c.post("/v1/completions", json={"prompt": PROMPT, "echo": True, **body})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_echo_scores_every_prompt_token_like_next_token_logprobs(server, spare_engine: Engine) -> None:
    data = _echo(server, max_tokens=0, logprobs=3)
    choice, ids = data["choices"][0], spare_engine.tokenize(PROMPT)
    lp = choice["logprobs"]
    assert choice["text"] == PROMPT and data["usage"]["prompt_tokens"] == len(ids)
    assert lp["token_logprobs"][0] is None and len(lp["tokens"]) == len(ids)
    for j in (1, len(ids) // 2, len(ids) - 1):  # the same numbers as a one-position request
        top = dict(spare_engine.next_token_logprobs(ids[:j], top_k=3))
        want = {spare_engine.token_text(t): v for t, v in top.items()}
        assert set(lp["top_logprobs"][j]) == set(want)
        assert all(math.isclose(lp["top_logprobs"][j][s], v, abs_tol=1e-4) for s, v in want.items())
        assert lp["tokens"][j] == spare_engine.token_text(ids[j]) and lp["token_logprobs"][j] <= 0
    assert "".join(lp["tokens"]) == PROMPT  # the offsets count the very text of the prompt
    assert lp["text_offset"] == [sum(len(t) for t in lp["tokens"][:i]) for i in range(len(ids))]


def test_echo_offsets_count_special_tokens_of_a_chat_prompt(server, spare_engine: Engine) -> None:
    prompt = spare_engine.render([{"role": "user", "content": "Name a colour."}])  # <|im_start|>... tokens
    with server.client() as c:
        lp = c.post("/v1/completions", json={"prompt": prompt, "echo": True, "max_tokens": 1,
                                              "logprobs": 1}).json()["choices"][0]["logprobs"]
    n = len(spare_engine.tokenize(prompt))
    assert "".join(lp["tokens"][:n]) == prompt and lp["text_offset"][n] == len(prompt)


def test_echo_with_a_completion_appends_it(server) -> None:
    data = _echo(server, max_tokens=3, logprobs=1, temperature=0)
    choice = data["choices"][0]
    assert choice["text"].startswith(PROMPT) and data["usage"]["completion_tokens"] >= 1
    assert len(choice["logprobs"]["tokens"]) == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]


def test_echo_is_refused_where_it_cannot_work(server) -> None:
    with server.client() as c:
        streamed = c.post("/v1/completions", json={"prompt": PROMPT, "echo": True, "stream": True})
        zero = c.post("/v1/completions", json={"prompt": PROMPT, "max_tokens": 0})
    assert streamed.status_code == 400 and "echo" in streamed.json()["error"]["message"]
    assert zero.status_code == 400 and "max_tokens" in zero.json()["error"]["message"]


def test_rescoring_an_extended_prompt_computes_only_the_new_positions(spare_engine: Engine) -> None:
    ids = spare_engine.tokenize(PROMPT + " Rome.")
    computed: list[int] = []
    first = spare_engine.prompt_logprobs(ids[:-2], top_k=3, check=lambda: computed.append(1))
    n_first, computed[:] = len(computed), []
    again = spare_engine.prompt_logprobs(ids, top_k=3, check=lambda: computed.append(1))
    assert n_first == len(ids) - 3 and len(computed) == 2  # the memo answered every shared position
    assert again[: len(first)] == first
