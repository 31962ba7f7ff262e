"""Chat templates: render messages with the model's own Jinja template.

Rendered in a sandboxed Jinja environment, the way Hugging Face and llama.cpp do, so every
backend formats a conversation the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from .errors import InvalidRequestError, ModelFormatError

ROLES = ("system", "user", "assistant", "tool")
# Used when a model carries no template (base models, T5): plain role-prefixed turns.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{% if m.role != 'user' or messages|length > 1 %}{{ m.role }}: {% endif %}"
    "{{ m.content }}\n{% endfor %}{% if add_generation_prompt and messages|length > 1 %}assistant: {% endif %}"
)


def check_messages(messages: Sequence[dict]) -> list[dict]:
    if not messages:
        raise InvalidRequestError("messages is empty: send at least one user message")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise InvalidRequestError(f"message {i} needs 'role' and 'content'")
        if m["role"] not in ROLES:
            raise InvalidRequestError(f"message {i} has unknown role {m['role']!r}; use one of {', '.join(ROLES)}")
        content = m["content"]
        if isinstance(content, list):  # OpenAI content parts: keep the text parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise InvalidRequestError(f"message {i} content must be a string")
        if not content.isascii():
            try:
                content.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate (JSON "\\ud800", undecodable argv bytes)
                raise InvalidRequestError(f"message {i} content is not valid Unicode (a lone surrogate at "
                                          f"position {exc.start}): send UTF-8 text") from None
        out.append({"role": m["role"], "content": content})
    if not any(m["content"].strip() for m in out):
        raise InvalidRequestError("all messages are empty: nothing to answer")
    return out


@lru_cache(maxsize=8)
def _compile(template: str):
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(msg: str):
        raise InvalidRequestError(f"chat template: {msg}")

    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(template)
    except (TemplateError, RecursionError, MemoryError) as exc:
        raise ModelFormatError(f"the model's chat template is broken (it does not compile: {str(exc)[:200]}); "
                               "fix tokenizer.chat_template in the model, or send a raw prompt to "
                               "/v1/completions") from None


def check_template(template: str) -> None:
    """Raise ModelFormatError if `template` does not compile (checked when a model is read)."""
    _compile(template)


def render(messages: Sequence[dict], template: str | None, *, bos_token: str = "", eos_token: str = "",
           add_generation_prompt: bool = True) -> str:
    """Render `messages` (checked) with `template` (or the plain fallback)."""
    msgs = check_messages(messages)
    compiled = _compile(template or FALLBACK_TEMPLATE)
    try:
        return compiled.render(messages=msgs, bos_token=bos_token, eos_token=eos_token,
                               add_generation_prompt=add_generation_prompt)
    except (InvalidRequestError, MemoryError):
        raise
    except Exception as exc:  # the template's own bug (undefined names, 1/0, runaway recursion)
        raise ModelFormatError(f"the model's chat template is broken: rendering failed with "
                               f"{type(exc).__name__}: {str(exc)[:200]}; fix tokenizer.chat_template in the "
                               "model, or send a raw prompt to /v1/completions") from None
