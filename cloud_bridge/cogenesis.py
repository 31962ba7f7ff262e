"""CoGenesis: the local SLM writes with the private context, a cloud LLM helps without seeing it.

- `sketch`: the cloud gets only the de-identified instruction (never the context) and returns an
  outline; placeholders in it are restored locally; the local model writes the answer from the
  outline plus the private context.
- `logits`: per scheduled step the cloud's top-k next-token logprobs for a context-free prompt
  (the de-identified instruction plus the de-identified text generated so far) are fused with
  the local model's (see `fusion`). Needs matching tokenizers, else it falls back to sketch. A
  step whose generated text ends in the beginning of a private value is not fused (so no partial
  value is sent).
- `off` (default): nothing leaves the device.

A cloud failure never escapes: the local model answers and the result says
`cloud_used: false, cloud_error: "..."`. A ledger that fails verification is not a cloud failure:
`LedgerDamagedError` is raised (nothing was sent) so the user sees it and inspects the ledger. Before any request, the outbound text is checked against
every private value known in the conversation; a hit cancels the request.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace

from edge import Engine
from edge.errors import InvalidRequestError

from .client import CloudClient, Policy
from .errors import CloudError, LedgerDamagedError, LedgerError
from .fusion import Schedule, local_fingerprint, tokenizers_match
from .logit_mode import LogitSession
from .pii import Detector
from .policies import StepPolicy
from .pseudonym import Pseudonymizer
from .runs import check_draft
from .vault import Vault
from .w2s import WeakToStrong

OUTLINE_SYSTEM = ("You plan texts. Reply with a short outline of 3 to 5 bullet points, no prose. Keep "
                  "placeholders such as <PERSON_1> exactly as written.")
# what a cloud step may fail with; the local model then carries on alone
CLOUD_FAILURES = (CloudError, LedgerError)
LOCAL_SYSTEM = ("You are a helpful writing assistant. Use the private context below; it never leaves "
                "this device.\n\nPrivate context:\n{context}")


@dataclass
class CollabResult:
    text: str
    mode: str  # requested policy
    mode_used: str  # "sketch" | "logits" | "local"
    cloud_used: bool
    cloud_error: str | None = None
    fallback_reason: str | None = None
    outline: str | None = None
    fused_steps: int = 0  # steps whose distribution had the cloud's fused in
    completion_tokens: int = 0
    token_ids: list[int] = field(default_factory=list)  # the answer's tokens (logit mode)
    steps: int = 0  # decoding steps (logit mode)
    consulted_steps: int = 0  # steps the policy sent to the cloud
    runs: int = 0  # batched verification: drafted runs walked (tokens per run = completion_tokens / runs)
    cloud_calls: int = 0  # HTTP attempts, every mode
    bytes_sent: int = 0  # request body bytes, every mode
    cloud_ms: float = 0.0  # time spent waiting on the cloud
    alphas: list[float] = field(default_factory=list)  # weak-to-strong: the alpha of each fused step
    conversation_id: str = ""
    findings: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CollabOptions:
    max_tokens: int = 256
    outline_tokens: int = 128
    temperature: float = 0.0
    seed: int | None = None
    top_k: int = 10
    weight: float | None = None  # the cloud's fusion weight; None: the policy's (`cloud_weight`)
    # which steps consult the cloud (cloud_bridge.policies: Schedule, Gate, Always, Never)
    policy: StepPolicy = field(default_factory=Schedule)
    batch: int = 0  # > 0 (temperature 0): verify runs of up to this many tokens in one cloud call
    draft: str = "auto"  # who drafts a batched run: "local", "cloud", "tree" or "auto" (cloud_bridge.runs)
    w2s: WeakToStrong | None = None  # weak-to-strong fusion instead of the weighted product

    @property
    def cloud_weight(self) -> float:
        return self.policy.cloud_weight if self.weight is None else self.weight

    def __post_init__(self) -> None:
        if self.weight is not None and not 0.0 <= self.weight <= 1.0:
            raise InvalidRequestError(f"the cloud's fusion weight must be within [0, 1], got {self.weight}")
        if self.batch < 0:
            raise InvalidRequestError(f"batch must be >= 0, got {self.batch}")
        check_draft(self.draft)
        if self.batch and self.temperature > 0:
            raise InvalidRequestError("batched verification is exact at temperature 0 only: set temperature 0 or batch 0")


class LeakGuardError(CloudError):
    """An outbound text still contained a known private value: the request was not sent."""


class CoGenesis:
    """One conversation: its placeholder mapping lives in the vault between calls."""

    def __init__(self, engine: Engine, client: CloudClient | None = None, policy: Policy | str = Policy.OFF,
                 detector: Detector | None = None, vault: Vault | None = None,
                 conversation_id: str | None = None) -> None:
        self.engine, self.client, self.policy = engine, client, Policy(policy)
        self.vault = vault
        self.conversation_id = conversation_id or uuid.uuid4().hex
        state = vault.get(self.conversation_id) if vault is not None else None
        det = detector or Detector()
        self.pseud = Pseudonymizer.from_state(state, det) if state else Pseudonymizer(det)

    def write(self, instruction: str, context: str = "", options: CollabOptions | None = None) -> CollabResult:
        opts = options or CollabOptions()
        before = replace(self.client.stats) if self.client is not None else None
        self.pseud.pseudonymize(context)  # register the context's private values for the guard
        redacted, findings = self.pseud.pseudonymize(instruction)
        base = CollabResult("", self.policy.value, "local", False, conversation_id=self.conversation_id,
                            findings=[f.to_dict() for f in findings])
        if self.policy is Policy.OFF:
            result = self._local(base, instruction, context, None, opts)
        elif self.client is None:
            base.cloud_error = "no cloud endpoint: set --cloud-url or EDGESPLIT_CLOUD_URL"
            result = self._local(base, instruction, context, None, opts)
        elif self.policy is Policy.LOGITS:
            result = self._logits(base, redacted, instruction, context, opts)
        else:
            result = self._sketch(base, redacted, instruction, context, opts)
        if self.vault is not None:
            self.vault.put(self.conversation_id, self.pseud.state())
        if self.client is not None and before is not None:  # this answer's share of the client's traffic
            now = self.client.stats
            result.cloud_calls, result.bytes_sent = now.calls - before.calls, now.bytes_sent - before.bytes_sent
            result.cloud_ms = round((now.seconds - before.seconds) * 1000, 2)
        return result

    # -- guard ----------------------------------------------------------------------------
    def guard(self, outbound: str) -> None:
        low = outbound.casefold()
        for value in self.pseud.private_values():
            if value.strip() and value.casefold() in low:
                raise LeakGuardError("refusing to send: the outbound text still holds a private value")

    def request_outline(self, redacted: str, opts: CollabOptions) -> str:
        """Ask the cloud for an outline of the de-identified instruction (placeholders kept)."""
        if self.client is None:
            raise CloudError("no cloud endpoint: set --cloud-url or EDGESPLIT_CLOUD_URL")
        self.guard(redacted)
        messages = [{"role": "system", "content": OUTLINE_SYSTEM}, {"role": "user", "content": redacted}]
        return self.client.chat(messages, "cogenesis sketch: outline for a de-identified instruction",
                                max_tokens=opts.outline_tokens, temperature=opts.temperature)

    # -- modes ----------------------------------------------------------------------------
    def _local(self, res: CollabResult, instruction: str, context: str, outline: str | None,
               opts: CollabOptions) -> CollabResult:
        user = instruction if not outline else f"{instruction}\n\nFollow this outline:\n{outline}"
        messages = ([{"role": "system", "content": LOCAL_SYSTEM.format(context=context)}] if context.strip() else [])
        messages.append({"role": "user", "content": user})
        out = self.engine.generate(messages, max_tokens=opts.max_tokens, temperature=opts.temperature,
                                   seed=opts.seed)
        res.text, res.completion_tokens = out.text, out.completion_tokens
        return res

    def _sketch(self, res: CollabResult, redacted: str, instruction: str, context: str,
                opts: CollabOptions) -> CollabResult:
        try:
            outline = self.request_outline(redacted, opts)
        except LedgerDamagedError:
            raise
        except CLOUD_FAILURES as exc:
            res.cloud_error = str(exc)
            return self._local(res, instruction, context, None, opts)
        res.outline = self.pseud.restore(outline)
        res.mode_used, res.cloud_used = "sketch", True
        return self._local(res, instruction, context, res.outline, opts)

    def _logits(self, res: CollabResult, redacted: str, instruction: str, context: str,
                opts: CollabOptions) -> CollabResult:
        assert self.client is not None
        ok, reason = tokenizers_match(self.engine, self.client)
        if not ok:
            res.fallback_reason = f"logit mode needs the same tokenizer: {reason}; used sketch mode"
            return self._sketch(res, redacted, instruction, context, opts)
        messages = ([{"role": "system", "content": LOCAL_SYSTEM.format(context=context)}] if context.strip() else [])
        messages.append({"role": "user", "content": instruction})
        local_prompt = self.engine.tokenize(messages)
        cloud_prompt = self.engine.render([{"role": "user", "content": redacted}])
        if opts.w2s is not None and local_fingerprint(opts.w2s.base) != local_fingerprint(self.engine):
            raise InvalidRequestError("weak-to-strong fusion needs the base and tuned models to share a tokenizer")
        try:
            self.guard(cloud_prompt)
        except LeakGuardError as exc:
            res.cloud_error = str(exc)
        session = LogitSession(self, res, local_prompt, cloud_prompt, opts)
        session.batched() if opts.batch else session.per_token()
        res.cloud_used = res.fused_steps > 0
        res.mode_used = "logits" if res.cloud_used else "local"
        return res

    def pseud_tail_unsafe(self, generated: str, pseud: Pseudonymizer | None = None) -> bool:
        """True when the text ends in the first >= 2 characters of a private value."""
        low = generated.casefold()
        for value in (pseud or self.pseud).private_values():
            v = value.casefold()
            for n in range(min(len(v) - 1, len(low)), 1, -1):
                if low.endswith(v[:n]) and (len(low) == n or not low[-n - 1].isalnum()):
                    return True
        return False
