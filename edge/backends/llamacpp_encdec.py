"""Encoder-decoder GGUFs (T5) on llama.cpp through the low-level API.

llama-cpp-python's high-level `Llama` aborts the process on T5 ("llama_encode must be called
first"), so this backend drives llama.cpp itself: `llama_encode` the prompt once, then
`llama_decode` one token at a time from `llama_model_decoder_start_token`, sampling with the
shared `edge.sampling.Sampler`; JSON schemas and grammars are enforced by edge.constrain.matcher.

Tied-embedding T5 (no `output.weight`): llama.cpp skips HF's d_model^-0.5 rescale before the
tied lm_head, so its logits are exactly sqrt(d_model) x the HF logits. Argmax is unaffected, but
sampling and logprobs are not: the logits are divided by sqrt(d_model) here.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..constrain.matcher import GrammarMatcher, MatcherCache, Vocabulary, utf8_or_none
from ..errors import ContextOverflowError, InvalidRequestError, ModelFormatError
from ..gguf_meta import read_gguf_meta
from ..models import ModelRef
from ..options import RuntimeOptions
from ..runtimes import llamacpp as runtime
from ..sampling import Sampler, SamplingParams
from .base import Backend, Capabilities, LogitsHook, ModelInfo


def _has_output_tensor(path: Path) -> bool:
    return "output.weight" in read_gguf_meta(path).tensor_names


class _Runner:
    """A loaded model + context: encode, decode, read logits (no sampling, no tokenizer)."""

    def __init__(self, path: Path, options: RuntimeOptions, n_ctx: int) -> None:
        lib = self.lib = runtime.library()
        mparams = lib.llama_model_default_params()
        mparams.load_mode = lib.LLAMA_LOAD_MODE_MMAP if options.use_mmap else lib.LLAMA_LOAD_MODE_NONE
        self.model = lib.llama_model_load_from_file(str(path).encode(), mparams)
        if not self.model:
            raise ModelFormatError(f"llama.cpp could not load {path}; re-export it")
        cparams = lib.llama_context_default_params()
        # the encoder needs the whole prompt in one micro-batch
        cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = n_ctx
        cparams.n_threads = cparams.n_threads_batch = options.threads
        cparams.type_k = cparams.type_v = runtime.kv_ggml_type(options.kv_type)
        cparams.flash_attn_type = (lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if options.flash_attn
                                   else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self.ctx = lib.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            lib.llama_model_free(self.model)
            raise ModelFormatError(f"llama.cpp could not create a context for {path}")
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        self.n_ctx = n_ctx
        self.scale = 1.0 if _has_output_tensor(path) else 1.0 / math.sqrt(lib.llama_model_n_embd(self.model))

    def _batch(self, ids: Sequence[int], pos0: int, all_logits: bool) -> Any:
        batch = self.lib.llama_batch_init(len(ids), 0, 1)
        batch.n_tokens = len(ids)
        for i, tok in enumerate(ids):
            batch.token[i] = tok
            batch.pos[i] = pos0 + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = all_logits or i == len(ids) - 1
        return batch

    def encode(self, ids: Sequence[int]) -> None:
        if not ids:
            raise InvalidRequestError("the encoder needs at least one prompt token")
        if len(ids) > self.n_ctx:
            raise ContextOverflowError(f"prompt has {len(ids)} tokens; the context holds {self.n_ctx}")
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)
        batch = self._batch(ids, 0, all_logits=False)
        try:
            rc = self.lib.llama_encode(self.ctx, batch)
        finally:
            self.lib.llama_batch_free(batch)
        if rc != 0:
            raise ModelFormatError(f"llama_encode failed (code {rc})")

    def decode(self, ids: Sequence[int], pos0: int, all_logits: bool = False) -> np.ndarray:
        """Logits (already rescaled) for the last token, or for every token when `all_logits`."""
        batch = self._batch(ids, pos0, all_logits)
        try:
            rc = self.lib.llama_decode(self.ctx, batch)
        finally:
            self.lib.llama_batch_free(batch)
        if rc != 0:
            raise ModelFormatError(f"llama_decode failed (code {rc})")
        rows = range(len(ids)) if all_logits else [len(ids) - 1]
        out = np.stack([np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))
                        for i in rows])
        return (out * np.float32(self.scale)).astype(np.float32)

    @property
    def start_token(self) -> int:
        return int(self.lib.llama_model_decoder_start_token(self.model))

    def close(self) -> None:
        self.lib.llama_free(self.ctx)
        self.lib.llama_model_free(self.model)


def teacher_forced_logits(path: Path, encoder_ids: Sequence[int], decoder_ids: Sequence[int],
                          options: RuntimeOptions | None = None) -> np.ndarray:
    """Decoder logits for every position of `decoder_ids` (which start with the start token)."""
    options = options or RuntimeOptions(kv_type="f32", flash_attn=False)
    runner = _Runner(Path(path), options, max(64, len(encoder_ids), len(decoder_ids)))
    try:
        runner.encode(encoder_ids)
        return runner.decode(decoder_ids, 0, all_logits=True)
    finally:
        runner.close()


class LlamaCppEncDecBackend(Backend):
    name = "llamacpp"
    capabilities = Capabilities(streaming=True, json_schema=True, encoder_decoder=True, logits=True,
                                logprobs=True, logits_hook=True)
    last_logits: np.ndarray | None = None  # set at each generated token (for logprobs)

    def __init__(self, ref: ModelRef, options: RuntimeOptions) -> None:
        path = ref.weights_file
        meta = read_gguf_meta(path)
        if options.kv_type in ("q8_0", "q4_0") and not options.flash_attn:
            raise InvalidRequestError("a quantized KV cache needs flash attention: set flash_attn = true")
        n_ctx = min(options.n_ctx, meta.n_ctx_train or options.n_ctx)
        self._run = _Runner(path, options, n_ctx)
        lib, model = self._run.lib, self._run.model
        self.info = ModelInfo(
            architecture=meta.architecture, n_ctx=n_ctx, n_ctx_train=meta.n_ctx_train,
            n_vocab=self._run.n_vocab, chat_template=meta.chat_template, bos_token=meta.bos_token,
            eos_token=meta.eos_token, add_bos=meta.add_bos, encoder_decoder=True,
            n_params=int(lib.llama_model_n_params(model)), file_bytes=path.stat().st_size,
        )
        self._matchers = MatcherCache(self._vocabulary)

    def tokenize(self, text: str, *, add_bos: bool, special: bool = True) -> list[int]:
        """Encoder input; add_special follows the GGUF (T5: no BOS, `</s>` appended)."""
        raw = text.encode("utf-8")
        n_max = len(raw) + 8
        buf = (ctypes.c_int32 * n_max)()
        n = self._run.lib.llama_tokenize(self._run.vocab, raw, len(raw), buf, n_max, True, special)
        if n < 0:
            raise InvalidRequestError(f"could not tokenize the prompt (needs {-n} tokens)")
        return list(buf[:n])

    def detokenize(self, ids: list[int], special: bool = False) -> bytes:
        out = bytearray()
        buf = ctypes.create_string_buffer(256)
        for tok in ids:
            n = self._run.lib.llama_token_to_piece(self._run.vocab, tok, buf, len(buf), 0, special)
            out += buf.raw[: max(n, 0)]
        return bytes(out)

    def is_end_of_generation(self, token_id: int) -> bool:
        return bool(self._run.lib.llama_vocab_is_eog(self._run.vocab, token_id))

    def generate(self, prompt_ids: list[int], params: SamplingParams,
                 hook: LogitsHook | None = None) -> Iterator[int]:
        # llama.cpp's grammar sampler sits in the high-level API this backend bypasses: JSON schemas
        # and grammars go through the same token matcher as the ONNX backend
        matcher = self._matchers.matcher(params.json_schema, params.grammar)
        self._run.encode(prompt_ids)
        return self._steps(Sampler(params), matcher, hook)

    def _steps(self, sampler: Sampler, matcher: GrammarMatcher | None, hook: LogitsHook | None) -> Iterator[int]:
        tok, out = self._run.start_token, []
        for pos in range(self.info.n_ctx):
            self.last_logits = self._run.decode([tok], pos)[0]
            logits = self.last_logits if hook is None else hook(list(out), self.last_logits.copy())
            tok = sampler(logits, None if matcher is None else matcher.constraint())
            out.append(tok)
            yield tok
            if matcher is not None:
                matcher.accept(tok)

    def _vocabulary(self) -> Vocabulary:
        """Every token's text (None for control tokens) and the end-of-generation ids, for the matcher."""
        lib, vocab, n = self._run.lib, self._run.vocab, self.info.n_vocab
        texts = [None if lib.llama_vocab_is_control(vocab, i) else utf8_or_none(self.detokenize([i])) for i in range(n)]
        return Vocabulary.from_texts(texts, [i for i in range(n) if self.is_end_of_generation(i)])

    def next_token_logits(self, prompt_ids: list[int]) -> np.ndarray:
        self._run.encode(prompt_ids)
        return self._run.decode([self._run.start_token], 0)[0]

    def close(self) -> None:
        run, self._run = getattr(self, "_run", None), None
        if run is not None:
            run.close()
