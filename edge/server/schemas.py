"""Request bodies of the OpenAI-compatible API (they also make the OpenAPI schema).

Unknown fields are ignored, as OpenAI clients send many optional ones; fields whose meaning the
runtime cannot honour (n > 1, penalties, logprobs, tools) are refused with a clear message rather
than silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..errors import InvalidRequestError
from ..sampling import SamplingParams


def _utf8(text: str) -> str:
    """JSON may carry lone surrogates (\\ud800); the model sees UTF-8, which cannot hold them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text has a lone UTF-16 surrogate at position {exc.start}; send valid Unicode") from None
    return text


Text = Annotated[str, AfterValidator(_utf8)]
Stop = Text | Annotated[list[Text], Field(max_length=4)] | None


class ContentPart(BaseModel):
    type: str = "text"
    text: Text = ""


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[ContentPart] | None = None

    def plain(self) -> dict:
        content = self.content
        if isinstance(content, list):
            content = "".join(p.text for p in content if p.type == "text")
        # "developer" is the newer OpenAI name for the system role
        return {"role": "system" if self.role == "developer" else self.role, "content": content or ""}


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None

    def schema_dict(self) -> dict | None:
        """The JSON schema the answer must match, or None for free text."""
        if self.type == "text":
            return None
        if self.type == "json_object":
            return {"type": "object"}
        if self.json_schema is None or self.json_schema.schema_ is None:
            raise InvalidRequestError("response_format json_schema needs json_schema.schema (a JSON schema object)")
        return self.json_schema.schema_


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: Text | None = Field(None, description="A model id from GET /v1/models; default: the server's first")
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, description="edgesplit extension: 0 disables top-k")
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    stop: Stop = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 is supported")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None

    def sampling(self, max_tokens_limit: int, default_max_tokens: int) -> SamplingParams:
        self._refuse_unsupported()
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        kwargs: dict[str, Any] = {
            "logprobs": self.n_logprobs(),
            "max_tokens": min(self.requested_max_tokens() or default_max_tokens, max_tokens_limit),
            "stop": tuple(stop),
            # OpenAI allows any 64-bit seed; the samplers take an unsigned 32-bit one
            "seed": None if self.seed is None else self.seed % 2**32,
            "json_schema": self.response_format.schema_dict() if self.response_format else None,
        }
        for key in ("temperature", "top_p", "top_k"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        return SamplingParams(**kwargs)

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens

    def n_logprobs(self) -> int:
        """How many alternatives per generated token to report (0: no logprobs)."""
        return 0

    def _refuse_unsupported(self) -> None:
        if self.presence_penalty or self.frequency_penalty:
            raise InvalidRequestError("presence_penalty and frequency_penalty are not supported: leave them 0")
        if self.logit_bias:
            raise InvalidRequestError("logit_bias is not supported: leave it empty")

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Common):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = None

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def n_logprobs(self) -> int:
        # OpenAI: logprobs=true reports each token's logprob; top_logprobs adds alternatives
        return max(1, self.top_logprobs or 0) if self.logprobs else 0

    def _refuse_unsupported(self) -> None:
        super()._refuse_unsupported()
        if self.top_logprobs and not self.logprobs:
            raise InvalidRequestError("top_logprobs needs logprobs: true")
        if self.tools:
            raise InvalidRequestError("tools (function calling) are not supported: use response_format json_schema")

    def plain_messages(self) -> list[dict]:
        return [m.plain() for m in self.messages]


MAX_PROMPTS = 16  # prompts one /v1/completions call may list: bounds the model time one request holds


class CompletionRequest(_Common):
    # a list is answered one choice per prompt, in order, echoed or not (logit collaboration scores
    # the steps or the paths of a drafted tree so)
    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_PROMPTS)]
    # echo: the answer starts with the prompt, and with `logprobs` every prompt token is scored
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=20)
    suffix: str | None = None
    max_tokens: int | None = Field(None, ge=0, description="0 (with echo): only score the prompt")

    def n_logprobs(self) -> int:
        return self.logprobs or 0

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens or None  # 0 is handled by the echo path, which then generates nothing

    def _refuse_unsupported(self) -> None:
        super()._refuse_unsupported()
        if self.suffix:
            raise InvalidRequestError("suffix is not supported on /v1/completions")
        if self.echo and self.stream:
            raise InvalidRequestError("echo cannot be streamed: send stream: false")
        if self.max_tokens == 0 and not self.echo:
            raise InvalidRequestError("max_tokens must be >= 1 (0 only with echo, to score the prompt)")
        if len(self.prompts()) > 1 and self.stream:
            raise InvalidRequestError("a list of prompts cannot be streamed: send one prompt")

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def prompt_text(self) -> str:
        return self.prompts()[0]


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: Text = Field(..., max_length=1_000_000)
    add_special: bool = False
    model: Text | None = None
