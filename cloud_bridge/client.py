"""The one code path that sends anything off the device: a client for OpenAI-compatible endpoints.

Every request body is appended to the outbound ledger *before* the same bytes are sent; a
retry is a new send and gets its own entry. TLS certificates are verified; plain http is only
allowed to loopback hosts unless `allow_insecure` is set. `timeout` is the whole budget of one
call, retries and backoff included. Every failure (unreachable, timeout, HTTP error, invalid
JSON, truncated stream) is raised as `CloudError`; callers fall back to the local model.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import httpx

from .errors import CloudError, ListedAnswerError
from .ledger import Ledger

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
UNREADABLE_LIST = "cloud /v1/completions answered a list of prompts without one scored choice each"
KEYRING_SERVICE, KEYRING_USER = "edgesplit", "cloud-api-key"


class Policy(StrEnum):
    """What may leave the device: nothing (`off`, the default), an outline request, or logit steps."""

    OFF = "off"
    SKETCH = "sketch"
    LOGITS = "logits"


def api_key_from_env() -> str | None:
    """`EDGESPLIT_CLOUD_KEY`, else the system keyring (service `edgesplit`, user `cloud-api-key`)."""
    key = os.environ.get("EDGESPLIT_CLOUD_KEY")
    if key:
        return key
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except Exception:  # no keyring backend on this machine: run without a key
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class CloudConfig:
    url: str  # base URL, e.g. https://api.example.com/v1 (a missing /v1 is added)
    model: str = "default"
    api_key: str | None = None
    timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.25
    allow_insecure: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CloudError(f"cloud URL {self.url!r} must look like https://host[:port]/v1")
        if parts.scheme == "http" and not (self.allow_insecure or _is_loopback(parts.hostname)):
            raise CloudError(f"refusing plain http to {parts.hostname}: use https (or allow_insecure for a trusted LAN)")
        if self.timeout <= 0:
            raise CloudError("the cloud timeout must be positive")

    @property
    def base(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"

    @property
    def root(self) -> str:
        return self.base[: -len("/v1")]

    @classmethod
    def from_env(cls, url: str | None = None, **kwargs) -> CloudConfig | None:
        """From `url` or `EDGESPLIT_CLOUD_URL` (None when neither is set); key from env or keyring."""
        url = url or os.environ.get("EDGESPLIT_CLOUD_URL")
        if not url:
            return None
        kwargs.setdefault("api_key", api_key_from_env())
        if os.environ.get("EDGESPLIT_CLOUD_MODEL"):
            kwargs.setdefault("model", os.environ["EDGESPLIT_CLOUD_MODEL"])
        return cls(url=url, **kwargs)


@dataclass
class CallStats:
    """What this client sent: HTTP attempts, body bytes, and seconds spent waiting on the cloud."""

    calls: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0


class CloudClient:
    def __init__(self, config: CloudConfig, ledger: Ledger | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.ledger = ledger or Ledger()
        self.stats = CallStats()
        self.tokenizer_fingerprint: str | None = None  # the endpoint's, once probed (fusion.tokenizers_match)
        self.echo_scoring: bool | None = None  # does /v1/completions score an echoed prompt? (None: not tried)
        self.prompt_lists: bool | None = None  # does /v1/completions answer a list of prompts? (None: not tried)
        self.echo_lists: bool | None = None  # ... and score each of a list of echoed prompts? (None: not tried)
        self._http = httpx.Client(verify=True, transport=transport, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CloudClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.config.api_key:
            h["Authorization"] = f"Bearer {self.config.api_key}"
        return h

    # -- sending --------------------------------------------------------------------------
    def _attempts(self, url: str, body: bytes, purpose: str) -> Iterator[float]:
        """Yield the time left for each attempt, logging the body before each; sleep between."""
        deadline = time.monotonic() + self.config.timeout
        for attempt in range(self.config.retries + 1):
            left = deadline - time.monotonic()
            if left <= 0.05:
                return
            self.ledger.append(url, body, purpose if not attempt else f"{purpose} (retry {attempt})")
            self.stats.calls += 1
            self.stats.bytes_sent += len(body)
            t0 = time.monotonic()
            try:
                yield left
            finally:
                self.stats.seconds += time.monotonic() - t0
            pause = min(self.config.backoff * 2 ** attempt, deadline - time.monotonic() - 0.05)
            if pause > 0:
                time.sleep(pause)

    def post_json(self, path: str, payload: dict, purpose: str, root: bool = False) -> dict:
        url = (self.config.root if root else self.config.base) + path
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        error = "no attempt fitted in the time budget"
        for left in self._attempts(url, body, purpose):
            try:
                resp = self._http.post(url, content=body, headers=self._headers(), timeout=left)
            except httpx.TimeoutException:
                error = f"timed out after {self.config.timeout:g} s"
                continue
            except (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, OSError) as exc:
                error = f"unreachable: {exc}"
                continue
            if resp.status_code in RETRY_STATUS:
                error = f"HTTP {resp.status_code}"
                continue
            return _json_of(resp)
        raise CloudError(f"cloud {url}: {error}")

    def stream_chat(self, payload: dict, purpose: str) -> str:
        """POST a streaming chat completion and join the deltas; a stream must end with [DONE]."""
        url = self.config.base + "/chat/completions"
        body = json.dumps({**payload, "stream": True}, ensure_ascii=False).encode("utf-8")
        error = "no attempt fitted in the time budget"
        for left in self._attempts(url, body, purpose):
            try:
                return self._read_stream(url, body, left)
            except httpx.TimeoutException:
                error = f"timed out after {self.config.timeout:g} s"
            except (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, OSError, UnicodeError) as exc:
                error = f"unreachable or stream cut: {exc}"
            except _Retryable as exc:
                error = str(exc)
        raise CloudError(f"cloud {url}: {error}")

    def _read_stream(self, url: str, body: bytes, left: float) -> str:
        deadline = time.monotonic() + left
        pieces: list[str] = []
        with self._http.stream("POST", url, content=body, headers=self._headers(), timeout=left) as resp:
            if resp.status_code in RETRY_STATUS:
                raise _Retryable(f"HTTP {resp.status_code}")
            if resp.status_code >= 400:
                raise CloudError(f"cloud {url}: HTTP {resp.status_code}: {resp.read()[:200]!r}")
            if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                resp.read()  # a server that ignores `stream` answers one JSON object
                return _message_text(_json_of(resp), url)
            for line in resp.iter_lines():
                if time.monotonic() > deadline:
                    raise CloudError(f"cloud {url}: stream exceeded the {self.config.timeout:g} s budget")
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return "".join(pieces)
                pieces.append(_delta_text(data, url))
        raise CloudError(f"cloud {url}: the stream ended before [DONE] (truncated)")

    # -- OpenAI-compatible calls ----------------------------------------------------------
    def chat(self, messages: list[dict], purpose: str, max_tokens: int = 256, temperature: float = 0.0) -> str:
        payload = {"model": self.config.model, "messages": messages, "max_tokens": max_tokens,
                   "temperature": temperature}
        return self.stream_chat(payload, purpose)

    def top_logprobs(self, prompt: str, k: int, purpose: str) -> dict[str, float]:
        """Top-k next-token {token text: logprob} from `/v1/completions` with `logprobs: k`."""
        payload = {"model": self.config.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                   "logprobs": k}
        data = self.post_json("/completions", payload, purpose)
        try:
            return parse_top_logprobs(data["choices"][0]["logprobs"])
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise CloudError("cloud /v1/completions returned no top_logprobs: the endpoint must support "
                             "`logprobs` (llama.cpp server, vLLM) for logit mode") from None

    def score(self, prompt: str, k: int, purpose: str) -> list[tuple[int, dict[str, float]]] | None:
        """The cloud's top-k at every token boundary of `prompt` and after it, as (text offset, top-k).

        One `/v1/completions` call with `echo` + `logprobs` (vLLM, OpenAI legacy, edgesplit); None
        when the endpoint cannot score an echoed prompt (then callers go token by token). Learned
        once per client.
        """
        if self.echo_scoring is False:
            return None
        payload = {"model": self.config.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                   "logprobs": k, "echo": True}
        try:
            rows = parse_echo(self.post_json("/completions", payload, purpose), prompt)
        except CloudError as exc:
            if "HTTP 4" not in str(exc):  # down or broken: a real failure, not a missing feature
                raise
            rows = None
        self.echo_scoring = rows is not None
        return rows

    def top_logprobs_many(self, prompts: list[str], k: int, purpose: str) -> list[dict[str, float]] | None:
        """`top_logprobs` of each prompt from one `/v1/completions` call with a list of prompts (OpenAI
        legacy, vLLM, edgesplit); None when the endpoint refuses lists (learned once per client)."""
        if self.prompt_lists is False:
            return None
        choices = self._listed(prompts, k, purpose, echo=False)
        if choices is None:
            self.prompt_lists = False
            return None
        try:
            tops = [parse_top_logprobs(c["logprobs"]) for c in choices]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise ListedAnswerError(UNREADABLE_LIST) from None
        self.prompt_lists = True
        return tops

    def score_many(self, prompts: list[str], k: int,
                   purpose: str) -> list[list[tuple[int, dict[str, float]]] | None] | None:
        """`score` of each prompt from one `/v1/completions` call listing them with `echo` (vLLM, OpenAI
        legacy, edgesplit); a prompt's entry is None where its answer is not a scored echo, the whole
        answer None when the endpoint cannot echo a list (learned once per client)."""
        if False in (self.echo_lists, self.echo_scoring, self.prompt_lists):
            return None
        try:
            choices = self._listed(prompts, k, purpose, echo=True)
        except ListedAnswerError:
            choices = None  # an answer we cannot read: no echoed lists here (listed nodes may still work)
        rows = [parse_echo({"choices": [c]}, p) for c, p in zip(choices, prompts, strict=True)] if choices else []
        self.echo_lists = any(r is not None for r in rows)  # a server that ignored the list or the echo
        if self.echo_lists:
            self.prompt_lists = self.echo_scoring = True
        return rows if self.echo_lists else None

    def _listed(self, prompts: list[str], k: int, purpose: str, echo: bool) -> list[dict] | None:
        """The choices of one `/v1/completions` call listing `prompts`, in prompt order; None where the
        endpoint refused the list (HTTP 4xx) or answered other than one choice per prompt;
        ListedAnswerError where the choices cannot be read."""
        payload = {"model": self.config.model, "prompt": prompts, "max_tokens": 1, "temperature": 0.0,
                   "logprobs": k, **({"echo": True} if echo else {})}
        try:
            data = self.post_json("/completions", payload, purpose)
        except CloudError as exc:
            if "HTTP 4" not in str(exc):  # down or broken: a real failure, not a missing feature
                raise
            return None
        try:
            choices = sorted(data["choices"], key=lambda c: int(c["index"]))
            # a server that answered only the first prompt: no lists here
            return choices if [int(c["index"]) for c in choices] == list(range(len(prompts))) else None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise ListedAnswerError(UNREADABLE_LIST) from None

    def continuation(self, prompt: str, n: int, k: int, purpose: str) -> list[tuple[str, dict[str, float]]]:
        """The cloud's own greedy continuation of `prompt`, up to n tokens, each as (token text, the
        top-k it was chosen from): one plain `/v1/completions` call with `logprobs: k` (no echo)."""
        payload = {"model": self.config.model, "prompt": prompt, "max_tokens": n, "temperature": 0.0,
                   "logprobs": k}
        data = self.post_json("/completions", payload, purpose)
        try:
            lp = data["choices"][0]["logprobs"]
            return [(str(t), {str(s): float(v) for s, v in top.items()})
                    for t, top in zip(lp["tokens"], lp["top_logprobs"], strict=True)]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise CloudError("cloud /v1/completions returned no per-token top_logprobs for a continuation") from None

    def tokenize(self, text: str, purpose: str) -> list[int]:
        """Token ids from the server's `/tokenize` (llama.cpp server and vLLM both offer it)."""
        data = self.post_json("/tokenize", {"model": self.config.model, "content": text, "prompt": text,
                                            "add_special": False}, purpose, root=True)
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list):
            raise CloudError("cloud /tokenize answered without a `tokens` list")
        return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]


def parse_top_logprobs(logprobs: dict) -> dict[str, float]:
    """First-position top logprobs, legacy completions form ({"top_logprobs": [{tok: lp}]}) or the
    chat form llama.cpp and OpenAI chat use ({"content": [{"top_logprobs": [{token, logprob}]}]})."""
    if logprobs.get("top_logprobs"):
        return {str(t): float(lp) for t, lp in logprobs["top_logprobs"][0].items()}
    first = logprobs["content"][0]["top_logprobs"]
    return {str(e["token"]): float(e["logprob"]) for e in first}


def parse_echo(data: dict, prompt: str) -> list[tuple[int, dict[str, float]]] | None:
    """(text offset, top-k) at each position of an echoed, scored `prompt` whose tokens before it
    spell exactly the prompt's text up to there; None when the answer is not a scored echo.

    Only such positions are trusted: a token holding part of a UTF-8 character (or a server that
    counts offsets differently) would otherwise pair a step with another step's distribution.
    """
    try:
        lp = data["choices"][0]["logprobs"]
        tokens, offsets, tops = lp["tokens"], lp["text_offset"], lp["top_logprobs"]
        spelled, rows = "", []
        for tok, off, top in zip(tokens, offsets, tops, strict=True):
            if top is not None and int(off) == len(spelled) and prompt.startswith(spelled):
                rows.append((len(spelled), {str(t): float(v) for t, v in top.items()}))
            spelled += str(tok)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    # a server that ignored `echo` reports only the generated token
    return rows if len(tokens) > 1 and any(off < len(prompt) for off, _ in rows) else None


class _Retryable(Exception):
    pass


def _json_of(resp: httpx.Response) -> dict:
    if resp.status_code >= 400:
        raise CloudError(f"cloud {resp.request.url}: HTTP {resp.status_code}: {resp.text[:200]}")
    try:
        data = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CloudError(f"cloud {resp.request.url}: the answer is not valid JSON") from None
    if not isinstance(data, dict):
        raise CloudError(f"cloud {resp.request.url}: expected a JSON object")
    return data


def _message_text(data: dict, url: str) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise CloudError(f"cloud {url}: the answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise CloudError(f"cloud {url}: the message content is not text")
    return content


def _delta_text(data: str, url: str) -> str:
    try:
        chunk = json.loads(data)
        choice = chunk["choices"][0] if chunk.get("choices") else {}
        return (choice.get("delta") or {}).get("content") or ""
    except (json.JSONDecodeError, AttributeError, TypeError, KeyError):
        raise CloudError(f"cloud {url}: a stream event is not valid JSON") from None
