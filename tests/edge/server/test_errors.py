"""Error cases over raw HTTP: every one an OpenAI-style error object with the right status."""

from __future__ import annotations

import pytest

from .conftest import assert_openai_error, chat_body


@pytest.mark.parametrize("body, param", [
    ({}, "messages"),
    ({"model": "default"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    (chat_body(max_tokens=0), "max_tokens"),
    (chat_body(max_tokens=-5), "max_tokens"),
    (chat_body(temperature=9), "temperature"),
    (chat_body(top_p=0), "top_p"),
    (chat_body(n=3), "n"),
    (chat_body(stop=["a", "b", "c", "d", "e"]), "stop"),
    (chat_body(response_format={"type": "xml"}), "response_format.type"),
])
def test_invalid_bodies_are_400_with_param(server, body, param):
    with server.client() as c:
        resp = c.post("/v1/chat/completions", json=body)
    err = assert_openai_error(resp, 400, param=param)
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize("body, words", [
    (chat_body(response_format={"type": "json_schema", "json_schema": {"name": "x"}}), "json_schema.schema"),
    (chat_body(response_format={"type": "json_schema", "json_schema": {"schema": {"type": 12}}}), "schema"),
    (chat_body(frequency_penalty=1.0), "frequency_penalty"),
    (chat_body(top_logprobs=2), "logprobs"),  # top_logprobs without logprobs: true
    (chat_body(stop=[""]), "stop"),
    ({"messages": [{"role": "user", "content": "   "}]}, "empty"),
])
def test_unsupported_or_inconsistent_requests_say_why(server, body, words):
    with server.client() as c:
        resp = c.post("/v1/chat/completions", json=body)
    assert words in assert_openai_error(resp, 400)["message"]


def test_bad_json_is_400(server):
    with server.client() as c:
        resp = c.post("/v1/chat/completions", content=b'{"messages": [', headers={"Content-Type": "application/json"})
        assert "not valid JSON" in assert_openai_error(resp, 400)["message"]
        resp = c.post("/v1/completions", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
        assert_openai_error(resp, 400)


def test_unknown_model_is_404(server):
    with server.client() as c:
        resp = c.post("/v1/chat/completions", json=chat_body(model="llama-405b"))
        err = assert_openai_error(resp, 404, param="model")
        assert err["code"] == "model_not_found" and "/v1/models" in err["message"]
        assert_openai_error(c.get("/v1/models/llama-405b"), 404)


def test_context_overflow_is_400(server):
    with server.client() as c:
        resp = c.post("/v1/completions", json={"prompt": "lorem ipsum dolor " * 1500, "max_tokens": 4})
    assert assert_openai_error(resp, 400)["type"] == "context_length_exceeded"


def test_unknown_route_and_method(server):
    with server.client() as c:
        assert_openai_error(c.get("/v1/nothing"), 404)
        assert_openai_error(c.get("/v1/chat/completions"), 405)


def test_body_over_the_limit_is_413(start_server):
    live = start_server(max_body_bytes=4096)
    big = chat_body("x" * 10_000)
    with live.client() as c:
        assert_openai_error(c.post("/v1/chat/completions", json=big), 413)

        def chunks():  # no Content-Length: the limit must hold on the bytes actually sent
            yield b'{"messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}]}'

        resp = c.post("/v1/chat/completions", content=chunks(), headers={"Content-Type": "application/json"})
        assert_openai_error(resp, 413)
        assert c.post("/v1/chat/completions", json=chat_body(max_tokens=2)).status_code == 200


def test_token_required_when_set(start_server):
    live = start_server(token="s3cret")
    with live.client() as c:
        err = assert_openai_error(c.get("/v1/models"), 401)
        assert err["type"] == "authentication_error"
        assert c.get("/v1/models").headers["www-authenticate"] == "Bearer"
        assert_openai_error(c.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
        assert_openai_error(c.post("/v1/chat/completions", json=chat_body()), 401)
        assert_openai_error(c.get("/metrics"), 401)
        ok = c.post("/v1/chat/completions", json=chat_body(max_tokens=2), headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        # liveness and the UI shell stay public; they carry no model output
        assert c.get("/health").status_code == 200
        assert c.get("/").status_code == 200


def test_openai_client_with_token(start_server):
    from openai import AuthenticationError, OpenAI

    live = start_server(token="tok-123")
    with OpenAI(base_url=live.url + "/v1", api_key="tok-123", max_retries=0) as good:
        assert [m.id for m in good.models.list()][0] == "default"
    with OpenAI(base_url=live.url + "/v1", api_key="nope", max_retries=0) as bad, \
            pytest.raises(AuthenticationError):
        bad.models.list()


def test_cors_is_off_unless_configured(server, start_server):
    origin = {"Origin": "http://evil.example"}
    with server.client() as c:
        assert "access-control-allow-origin" not in c.get("/v1/models", headers=origin).headers
    live = start_server(cors_origins=["http://app.example"])
    with live.client() as c:
        pre = c.options("/v1/chat/completions", headers={"Origin": "http://app.example",
                                                          "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://app.example"
        assert "access-control-allow-origin" not in c.get("/v1/models", headers=origin).headers


def test_streaming_error_before_the_first_token_is_a_plain_http_error(server):
    with server.client() as c:
        resp = c.post("/v1/chat/completions", json=chat_body("lorem ipsum " * 2000, stream=True))
    assert resp.headers["content-type"].startswith("application/json")
    assert assert_openai_error(resp, 400)["type"] == "context_length_exceeded"


def test_an_app_can_raise_its_own_body_limit(start_server):
    live = start_server(max_body_bytes=4096, apps={"big": "tests.edge.server.bigbody_app"})
    with live.client() as c:
        ok = c.post("/v1/apps/big/size", content=b"x" * 20_000)
        assert ok.status_code == 200 and ok.json() == {"bytes": 20_000}
        assert_openai_error(c.post("/v1/apps/big/size", content=b"x" * 70_000), 413)
        assert_openai_error(c.post("/v1/chat/completions", json=chat_body("x" * 20_000)), 413)
