"""llama.cpp backend (through llama-cpp-python) for GGUF models.

The GGUF is validated in Python before llama.cpp sees it, because llama.cpp aborts the
process on some malformed files instead of returning an error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from ..constrain.matcher import GrammarMatcher, MatcherCache, Vocabulary, utf8_or_none
from ..errors import InvalidRequestError, SchemaError
from ..gguf_meta import read_gguf_meta
from ..models import ModelRef
from ..options import RuntimeOptions
from ..runtimes import llamacpp as runtime
from ..sampling import SamplingParams, constrain_logits
from ..speculate.controller import Controller
from .base import Backend, Capabilities, LogitsHook, ModelInfo


def _speculation(backend, ref: ModelRef, options: RuntimeOptions, controller: Controller | None, n_batch: int):
    """Speculation state, its drafts cut to what one llama_decode takes (llama.cpp aborts the
    process on a batch over n_batch); None where the mode does not draft on this context
    (llamacpp_spec.speculates) or not even one draft token fits."""
    from .llamacpp_spec import LlamaCppSpeculation, rows_match, speculates

    mode = options.speculative
    if n_batch < 2 or not speculates(mode, options.flash_attn, lambda: rows_match(backend._llm, _rows_key(ref, options))):
        return None
    controller = controller or Controller()
    if controller.max_draft + 1 > n_batch:
        controller = replace(controller, max_draft=n_batch - 1)
    return LlamaCppSpeculation(backend, mode, controller)


def _rows_key(ref: ModelRef, options: RuntimeOptions) -> str:
    """What decides which kernels a pass runs: the file's version, the options that pick kernels, the build."""
    import hashlib

    from .llamacpp_build import build_identity

    st = ref.weights_file.stat()
    facts = (str(ref.weights_file.resolve()), st.st_size, st.st_mtime_ns, options.threads, options.flash_attn,
             options.kv_type, options.n_batch, build_identity())
    return hashlib.sha256(repr(facts).encode()).hexdigest()[:32]


def _greedy_constraint(matcher: GrammarMatcher, n_prompt: int):
    """A logits processor that keeps `matcher` in step with the tokens drawn so far and refuses
    what it forbids (the logits as they are where the argmax is allowed)."""
    fed = [n_prompt]

    def constrain(ids, logits: np.ndarray) -> np.ndarray:
        for tok in ids[fed[0]:]:
            matcher.accept(int(tok))
        fed[0] = len(ids)
        return constrain_logits(logits, matcher.constraint(), True)

    return constrain


class LlamaCppBackend(Backend):
    name = "llamacpp"
    capabilities = Capabilities(streaming=True, json_schema=True, encoder_decoder=False, logits=True,
                                logprobs=True, logits_hook=True, interruptible=True)

    def __init__(self, ref: ModelRef, options: RuntimeOptions, *, controller: Controller | None = None) -> None:
        """`controller`: speculation's cost model (default `Controller()`; tests pass small thresholds)."""
        import llama_cpp

        path = ref.weights_file
        meta = read_gguf_meta(path)
        if options.kv_type in ("q8_0", "q4_0") and not options.flash_attn:
            raise InvalidRequestError("a quantized KV cache needs flash attention: set flash_attn = true")
        n_ctx = min(options.n_ctx, meta.n_ctx_train or options.n_ctx)
        self._llm = runtime.open_with_options(path, options, n_ctx)
        self._lib = llama_cpp
        self._vocab = runtime.Vocab(self._llm)
        # llama.cpp may pad the context; the binding's token buffer holds only the n_ctx we asked for
        self.info = ModelInfo(
            architecture=meta.architecture, n_ctx=min(n_ctx, self._llm.n_ctx()), n_ctx_train=meta.n_ctx_train,
            n_vocab=self._llm.n_vocab(), chat_template=meta.chat_template,
            bos_token=meta.bos_token, eos_token=meta.eos_token, add_bos=meta.add_bos,
            n_params=self._llm._model.n_params(), file_bytes=path.stat().st_size,
        )
        from ..prompt_cache.llama_state import for_llamacpp

        self._prompt_cache = for_llamacpp(self._llm, llama_cpp, ref, options, self.info.n_ctx)
        self.matchers = MatcherCache(self._vocabulary)  # grammars as token masks (speculation, greedy)
        self._spec = _speculation(self, ref, options, controller, min(options.n_batch, n_ctx))

    def tokenize(self, text: str, *, add_bos: bool, special: bool = True) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def detokenize(self, ids: list[int], special: bool = False) -> bytes:
        return self._llm.detokenize(ids, special=special)

    def is_end_of_generation(self, token_id: int) -> bool:
        return self._vocab.is_eog(token_id)

    def generate(self, prompt_ids: list[int], params: SamplingParams,
                 hook: LogitsHook | None = None) -> Iterator[int]:
        if self._prompt_cache is not None:  # restore the best saved prefix; generation evals the rest
            self._prompt_cache.prepare(prompt_ids)
        if self._spec is not None:
            self._spec.reset()
            # a seeded draw runs in llama.cpp's own loop: the same with speculation on or off
            if self._spec.serves(params, hook):
                return self._spec.generate(prompt_ids, params)
        return self.plain_decode(prompt_ids, params, hook)

    def plain_decode(self, ids: list[int], params: SamplingParams, hook: LogitsHook | None = None, *,
                     constrain: bool = True) -> Iterator[int]:
        """llama-cpp-python's own decode loop after `ids` (the hook sees the tokens generated after
        them); its prefix reuse feeds only what the KV cache lacks. `constrain=False` leaves the
        schema/grammar to the caller (e.g. a hook that applies a token matcher's mask).

        A greedy schema/grammar runs as edge.constrain's token matcher, which asks only about the
        argmax token (1.4x llama.cpp's grammar sampler on an agent script, measured quiet);
        sampling keeps llama.cpp's grammar, which draws from the whole constrained distribution.
        """
        constrained = constrain and (params.json_schema is not None or params.grammar is not None)
        matcher = self.matchers.matcher(params.json_schema, params.grammar) if constrained and params.greedy else None
        grammar = None
        if constrained and matcher is None:
            grammar = (self._grammar(params.json_schema) if params.json_schema is not None
                       else self._ir_grammar(params.grammar))
        if params.seed is not None:
            self._llm.set_seed(params.seed)
        # min_p/repeat penalties off: only top-k, top-p and temperature, the same on every backend
        return self._llm.generate(
            ids, top_k=params.top_k, top_p=params.top_p, min_p=0.0, temp=params.temperature,
            repeat_penalty=1.0, grammar=grammar,
            logits_processor=self._processors(len(ids), hook, matcher),
        )

    def _processors(self, n_prompt: int, hook: LogitsHook | None, matcher: GrammarMatcher | None = None):
        """The hook, then the matcher's constraint, as llama-cpp-python's logits processors (they run
        first in its sampler chain)."""
        procs = []
        if hook is not None:
            procs.append(lambda ids, logits: hook(ids[n_prompt:].tolist(), logits))
        if matcher is not None:
            procs.append(_greedy_constraint(matcher, n_prompt))
        return self._lib.LogitsProcessorList(procs) if procs else None

    @contextmanager
    def interruptible(self, cancelled: threading.Event) -> Iterator[None]:
        """ggml polls the abort callback between graph nodes: a long prefill stops mid-way."""
        lib, ctx = self._lib, self._llm._ctx.ctx
        callback = lib.ggml_abort_callback(lambda _data: cancelled.is_set())
        lib.llama_set_abort_callback(ctx, callback, None)
        try:
            yield
        finally:
            lib.llama_set_abort_callback(ctx, lib.ggml_abort_callback(0), None)
            del callback  # kept alive until here: llama.cpp holds only its address

    @property
    def last_logits(self) -> np.ndarray:
        """Logits the last generated token was sampled from (valid while `generate` is paused at it)."""
        row = None if self._spec is None else self._spec.row
        return self._last_row() if row is None else row.copy()

    @property
    def speculation(self):
        """What speculative decoding did in the last `generate` (None when it did not run)."""
        return None if self._spec is None else self._spec.stats

    def _last_row(self) -> np.ndarray:
        """A copy of the context's logits for the last evaluated position."""
        ptr = self._llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(ptr, shape=(self.info.n_vocab,)).copy()

    def next_token_logits(self, prompt_ids: list[int]) -> np.ndarray:
        llm = self._llm
        # reuse the KV cache for the shared prefix: collaboration asks once per generated token
        cached = llm.input_ids[: llm.n_tokens].tolist()
        keep = 0
        for a, b in zip(cached, prompt_ids, strict=False):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(prompt_ids) - 1)  # always evaluate at least one token for fresh logits
        if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            llm.reset()
            keep = 0
        llm.eval(prompt_ids[keep:])
        return self._last_row()

    def _vocabulary(self) -> Vocabulary:
        lib, vocab, n = self._lib, self._vocab.handle, self.info.n_vocab
        texts = [None if lib.llama_vocab_is_control(vocab, i) else utf8_or_none(self.detokenize([i]))
                 for i in range(n)]
        return Vocabulary.from_texts(texts, [i for i in range(n) if self.is_end_of_generation(i)])

    def _grammar(self, schema: dict):
        from ..constrain import schema_to_gbnf

        gbnf = schema_to_gbnf(schema)
        try:
            return self._lib.LlamaGrammar.from_string(gbnf, verbose=False)
        except ValueError as exc:
            raise SchemaError(f"llama.cpp rejected the grammar compiled from the schema: {exc}") from None

    def _ir_grammar(self, grammar):
        from ..constrain import to_gbnf

        try:
            return self._lib.LlamaGrammar.from_string(to_gbnf(grammar), verbose=False)
        except ValueError as exc:
            raise SchemaError(f"llama.cpp rejected the grammar: {exc}") from None

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()
