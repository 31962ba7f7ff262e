"""The server through the official `openai` client: chat, streaming, completions, JSON output."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "city": {"type": "string", "enum": ["Paris", "Lyon", "Nice"]},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
HELLO = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


def test_models_list_has_the_default(openai_client):
    ids = [m.id for m in openai_client.models.list()]
    assert "default" in ids
    assert openai_client.models.retrieve("default").id == "default"


def test_chat_answers_with_usage(openai_client):
    r = openai_client.chat.completions.create(model="default", messages=HELLO, max_tokens=24, temperature=0)
    choice = r.choices[0]
    assert r.object == "chat.completion" and r.model == "default"
    assert choice.message.role == "assistant"
    assert "Paris" in choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 24
    assert r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streaming_matches_the_whole_answer(openai_client):
    whole = openai_client.chat.completions.create(model="default", messages=HELLO, max_tokens=20, temperature=0)
    stream = openai_client.chat.completions.create(model="default", messages=HELLO, max_tokens=20, temperature=0,
                                                   stream=True, stream_options={"include_usage": True})
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert len([p for p in pieces if p]) > 1  # it really came in pieces
    assert "".join(pieces) == whole.choices[0].message.content  # greedy: the same answer either way
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens


def test_max_tokens_stops_with_length(openai_client):
    r = openai_client.chat.completions.create(model="default", messages=HELLO, max_tokens=3, temperature=0)
    assert r.usage.completion_tokens == 3
    assert r.choices[0].finish_reason == "length"


def test_seed_makes_sampling_repeatable(openai_client):
    kwargs = dict(model="default", messages=[{"role": "user", "content": "Tell me a story."}], max_tokens=16,
                  temperature=1.0, top_p=0.95, seed=1234)
    a = openai_client.chat.completions.create(**kwargs).choices[0].message.content
    b = openai_client.chat.completions.create(**kwargs).choices[0].message.content
    assert a == b


def test_stop_sequence_cuts_the_text(openai_client):
    kw = dict(model="default", prompt="1, 2, 3, 4, 5,", max_tokens=30, temperature=0)
    free = openai_client.completions.create(**kw).choices[0].text
    # the stop string comes from this build's own greedy answer (greedy paths differ across SIMD levels)
    stop = free[len(free) // 2:][:2]
    assert len(free) >= 8 and stop.strip(), free
    r = openai_client.completions.create(**kw, stop=[stop])
    assert r.choices[0].text == free[: free.index(stop)]
    assert r.choices[0].finish_reason == "stop"


def test_completions_continue_raw_text(openai_client):
    r = openai_client.completions.create(model="default", prompt="The capital of France is", max_tokens=8,
                                         temperature=0)
    assert r.object == "text_completion"
    assert "Paris" in r.choices[0].text
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens <= 8


def test_completions_stream(openai_client):
    stream = openai_client.completions.create(model="default", prompt="Once upon a time", max_tokens=12,
                                              temperature=0, stream=True)
    text = "".join(c.choices[0].text for c in stream if c.choices)
    assert len(text) > 10


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_is_enforced(openai_client, stream):
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    messages = [{"role": "user", "content": "Invent a person who lives in France."}]
    kwargs = dict(model="default", messages=messages, max_tokens=64, temperature=0.8, seed=3,
                  response_format=fmt)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in
                       openai_client.chat.completions.create(stream=True, **kwargs) if c.choices)
    else:
        text = openai_client.chat.completions.create(**kwargs).choices[0].message.content
    person = json.loads(text)
    jsonschema.validate(person, PERSON)


def test_json_object_gives_an_object(openai_client):
    r = openai_client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Describe a cat as JSON."}], max_tokens=48,
        temperature=0, response_format={"type": "json_object"})
    assert r.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_errors_reach_the_client_typed(openai_client):
    with pytest.raises(openai.NotFoundError) as exc:
        openai_client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert exc.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as exc:
        openai_client.chat.completions.create(model="default", messages=HELLO, max_tokens=0)
    assert exc.value.body["param"] == "max_tokens"


def test_a_second_model_is_served_by_name(openai_client, server, default_gguf):
    from edge.models import models_dir

    models_dir().mkdir(parents=True, exist_ok=True)
    (models_dir() / "second.gguf").symlink_to(default_gguf)  # a model file dropped into the models dir
    assert {"default", "second.gguf"} <= {m.id for m in openai_client.models.list()}
    r = openai_client.chat.completions.create(model="second.gguf", messages=HELLO, max_tokens=4, temperature=0)
    assert r.model == "second.gguf" and r.usage.completion_tokens >= 1
    with server.client() as c:
        loaded = {m["id"]: m["loaded"] for m in c.get("/health").json()["models"]}
    assert loaded == {"default": True, "second.gguf": True}  # loaded on first use, then cached


def test_completions_logprobs_legacy_layout(openai_client):
    r = openai_client.completions.create(model="default", prompt="The capital of France is", max_tokens=3,
                                         temperature=0, logprobs=4)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == r.usage.completion_tokens
    assert "".join(lp.tokens) == r.choices[0].text and lp.text_offset[0] == 0
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert 1 <= len(top) <= 4 and max(top.values()) == logprob <= 0 and top[token] == logprob


def test_chat_logprobs_and_top_logprobs(openai_client):
    r = openai_client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0,
        logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert all(len(c.top_logprobs) == 2 and c.top_logprobs[0].logprob == c.logprob for c in content)


def test_tokenize_route_matches_the_engine(server, spare_engine):
    with server.client() as c:
        resp = c.post("/tokenize", json={"content": "Hello world, hello edge."})
    assert resp.status_code == 200
    assert resp.json()["tokens"] == spare_engine.encode("Hello world, hello edge.")
