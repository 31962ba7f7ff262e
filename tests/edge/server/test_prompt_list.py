"""/v1/completions with a list of prompts: one choice per prompt, each as its own request answers it."""

from __future__ import annotations

from edge.server.schemas import MAX_PROMPTS

PROMPTS = ["The capital of France is", "The capital of France is Paris.\n\n", "1, 2, 3,"]


def _post(server, **body):
    with server.client() as c:
        return c.post("/v1/completions", json={"max_tokens": 2, "temperature": 0, **body})


def test_each_prompt_gets_the_choice_its_own_request_gets(server) -> None:
    data = _post(server, prompt=PROMPTS, logprobs=3).json()
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    for prompt, choice in zip(PROMPTS, data["choices"], strict=True):
        alone = _post(server, prompt=prompt, logprobs=3).json()["choices"][0]
        assert choice["text"] == alone["text"]
        assert choice["logprobs"]["top_logprobs"][0].keys() == alone["logprobs"]["top_logprobs"][0].keys()
    assert data["usage"]["completion_tokens"] == sum(len(c["logprobs"]["tokens"]) for c in data["choices"])


def test_a_list_is_bounded_and_cannot_be_streamed(server) -> None:
    assert _post(server, prompt=["a"] * (MAX_PROMPTS + 1)).status_code in (400, 422)
    assert _post(server, prompt=["a"] * (MAX_PROMPTS + 1), echo=True).status_code in (400, 422)
    resp = _post(server, prompt=PROMPTS[:2], stream=True)
    assert resp.status_code == 400 and "list of prompts" in resp.text
    assert _post(server, prompt=["one"]).status_code == 200  # a list of one is a plain request


def test_an_echoed_list_scores_each_prompt_as_its_own_echo(server) -> None:
    data = _post(server, prompt=PROMPTS, echo=True, max_tokens=1, logprobs=2).json()
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    for prompt, choice in zip(PROMPTS, data["choices"], strict=True):
        alone = _post(server, prompt=prompt, echo=True, max_tokens=1, logprobs=2).json()["choices"][0]
        assert choice["text"] == alone["text"] and choice["text"].startswith(prompt)
        assert choice["logprobs"]["tokens"] == alone["logprobs"]["tokens"]
        assert choice["logprobs"]["text_offset"] == alone["logprobs"]["text_offset"]
        assert [None if t is None else t.keys() for t in choice["logprobs"]["top_logprobs"]] == \
            [None if t is None else t.keys() for t in alone["logprobs"]["top_logprobs"]]
    assert data["usage"]["prompt_tokens"] == sum(c["logprobs"]["text_offset"].index(len(p)) for p, c in
                                                 zip(PROMPTS, data["choices"], strict=True))


def test_the_openai_client_sends_a_list_and_reads_one_choice_per_prompt(openai_client) -> None:
    r = openai_client.completions.create(model="default", prompt=PROMPTS[:2], max_tokens=3, temperature=0)
    assert [c.index for c in r.choices] == [0, 1] and all(c.text for c in r.choices)
    assert 0 < r.usage.completion_tokens <= 6
