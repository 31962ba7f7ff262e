"""ONNX Runtime backend for exported ONNX bundles (decoder-only and encoder-decoder).

Its own decode loop: on fused-attention graphs (GroupQueryAttention, right padding) the K/V live
in one preallocated buffer per past tensor that GQA appends to in place (onnx_kv.SharedKV); traced
graphs hand ORT-allocated present OrtValues back as the next past (no copy through numpy). Only
the last logits row comes back to Python.
Tokenization uses `tokenizers` on the bundle's tokenizer.json, sampling is edge.sampling's,
JSON-schema output a token mask from edge.constrain.matcher over the shared grammar IR.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import OnnxManifest
from ..constrain.matcher import MatcherCache, Vocabulary, utf8_or_none
from ..errors import InvalidRequestError, ModelFormatError
from ..models import ModelRef
from ..options import RuntimeOptions
from ..prompt_cache.config import cache_mode
from ..runtimes.onnxrt import make_session
from ..sampling import Sampler, SamplingParams
from ..speculate.controller import Controller
from .base import Backend, Capabilities, LogitsHook, ModelInfo
from .onnx_kv import DEFAULT_CAPACITY, HOST_PROVIDERS, SharedKV
from .onnx_prefix import DEFAULT_MAX_STATES, EncoderCache, PastState, PrefixCache, slice_past

log = logging.getLogger(__name__)
PROVIDERS = {
    "CPU": "CPUExecutionProvider", "XNNPACK": "XnnpackExecutionProvider", "NNAPI": "NnapiExecutionProvider",
    "QNN": "QNNExecutionProvider", "COREML": "CoreMLExecutionProvider", "CUDA": "CUDAExecutionProvider",
}
DECODER_ONLY_FILES = ("model.onnx",)
ENCODER_DECODER_FILES = ("encoder_model.onnx", "decoder_model_merged.onnx")
# model metadata key export's fused writer sets to "right-padding": attention reads a row's length
# from its mask's sum (GroupQueryAttention), so a padded prompt must hold its tokens first
PADDING_KEY = "edgesplit.padding"


def select_providers(requested: tuple[str, ...], threads: int) -> list[tuple[str, dict]]:
    """Requested execution providers that this onnxruntime build has, then CPU (always last)."""
    import onnxruntime as ort

    available, chosen = set(ort.get_available_providers()), []
    for name in requested:
        full = PROVIDERS.get(name.upper(), name if name.endswith("ExecutionProvider") else None)
        if full is None:
            raise InvalidRequestError(f"unknown execution provider {name!r}; known: {', '.join(PROVIDERS)}")
        if full == "CPUExecutionProvider":
            continue
        if full not in available:
            log.warning("execution provider %s is not in this onnxruntime build; falling back", full)
            continue
        chosen.append((full, {"intra_op_num_threads": threads} if full == "XnnpackExecutionProvider" else {}))
    return [*chosen, ("CPUExecutionProvider", {})]


class Session:
    """An InferenceSession with its input metadata and an IOBinding run."""

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        import onnxruntime as ort

        # spinning worker threads halve decode speed when the cores are shared (measured 2x on a busy
        # 2-core box); on a device the app and the OS always share them. `ort_spinning = true` opts in.
        self.sess = make_session(path, threads=options.threads, spinning=options.ort_spinning,
                                 providers=select_providers(options.execution_providers, options.threads))
        self.providers = self.sess.get_providers()
        log.info("%s runs on %s", path.name, ", ".join(self.providers))
        self.inputs = {i.name: i for i in self.sess.get_inputs()}
        self.outputs = [o.name for o in self.sess.get_outputs()]
        self.metadata: dict[str, str] = dict(self.sess.get_modelmeta().custom_metadata_map)
        self._ort = ort

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        """Run on inputs wrapped in place (numpy or OrtValue); outputs stay ORT-allocated OrtValues.

        One run_with_ort_values call instead of an IOBinding rebuilt per step (two Python calls per
        output, 61 outputs on SmolLM2): the same zero-copy hand-over, measured the same speed.
        """
        wrap = self._ort.OrtValue
        values = {name: value if isinstance(value, wrap) else wrap.ortvalue_from_numpy(np.ascontiguousarray(value))
                  for name, value in feeds.items() if name in self.inputs}
        return dict(zip(self.outputs, self.sess.run_with_ort_values(self.outputs, values), strict=True))

    def empty_past(self, name: str, batch: int, length: int = 0, head_dim: int | None = None) -> np.ndarray:
        """Zero-length (or `length`) past K/V; `head_dim` where the graph leaves it symbolic."""
        meta = self.inputs[name]
        dtype = np.float16 if "float16" in meta.type else np.float32
        dim = meta.shape[3] if isinstance(meta.shape[3], int) else head_dim
        if dim is None:
            raise ModelFormatError(f"{name} has a symbolic head size ({meta.shape[3]!r}) and neither config.json "
                                   "nor genai_config.json names one; add head_dim to the bundle's config.json")
        return np.zeros((batch, meta.shape[1], length, dim), dtype=dtype)


def config_head_dim(directory: Path) -> int | None:
    """The attention head size from config.json (head_dim, or hidden_size / num_attention_heads) or
    an onnxruntime-genai folder's genai_config.json (model.decoder.head_size); None if neither says.

    Graphs with fused attention (onnxruntime's GroupQueryAttention, as onnxruntime-genai's model
    builder writes them) leave the K/V head size symbolic; the loop needs it for an empty past.
    """
    cfg, genai = _json_or_empty(directory / "config.json"), _json_or_empty(directory / "genai_config.json")
    hidden, heads = cfg.get("hidden_size"), cfg.get("num_attention_heads")
    split = hidden // heads if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 else None
    decoder = (genai.get("model") or {}).get("decoder") or {} if isinstance(genai.get("model"), dict) else {}
    named = decoder.get("head_size") if isinstance(decoder, dict) else None
    return next((d for d in (cfg.get("head_dim"), split, named) if isinstance(d, int) and d > 0), None)


def context_limit(directory: Path, options: RuntimeOptions) -> int:
    """Positions a sequence may take: the options' n_ctx, within config.json's max_position_embeddings
    (a fused graph's rotary cache ends there)."""
    trained = _json_or_empty(directory / "config.json").get("max_position_embeddings")
    return min(options.n_ctx, trained) if isinstance(trained, int) and trained > 0 else options.n_ctx


def _json_or_empty(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class CausalLM:
    """Decoder-only model.onnx with past_key_values.{i}.key|value inputs, reusing cached prefixes.

    A fused-attention graph decodes in a shared past/present buffer (`kv`; `shared_kv=False` keeps
    the growing-present path traced graphs take), first sized `kv_capacity` positions.
    """

    def __init__(self, directory: Path, options: RuntimeOptions, filename: str = "model.onnx", *,
                 shared_kv: bool = True, kv_capacity: int = DEFAULT_CAPACITY) -> None:
        self.session = Session(directory / filename, options)  # a mobile kit's model.ort runs here too
        self.past_names = [n for n in self.session.inputs if n.startswith("past_key_values.")]
        self.present_names = ["present." + n.removeprefix("past_key_values.") for n in self.past_names]
        self.head_dim = config_head_dim(directory)
        self.right_padding = self.session.metadata.get(PADDING_KEY) == "right-padding"
        # prompt cache "off": only the last prompt's state, as llama.cpp's context keeps only its last
        kept = 1 if cache_mode(options) == "off" else DEFAULT_MAX_STATES
        self.cache = PrefixCache(sum(self._empty(p, 1, 1).nbytes for p in self.past_names), max_states=kept)
        self._live = PastState([], {})
        self.kv: SharedKV | None = None
        if shared_kv and self.right_padding and set(self.session.providers) <= HOST_PROVIDERS:
            self.kv = SharedKV(self.session, self.past_names, self.present_names, self.head_dim,
                               context_limit(directory, options), kv_capacity)
        self.fed_tokens = 0  # tokens given to the session so far (prefix reuse shows here, not in time)
        self._ones = np.ones((1, 1024), dtype=np.int64)

    def _empty(self, name: str, batch: int, length: int = 0) -> np.ndarray:
        return self.session.empty_past(name, batch, length, self.head_dim)

    @property
    def n_past(self) -> int:
        return len(self._live.ids)

    def forward(self, ids: np.ndarray, mask: np.ndarray, past: dict[str, Any] | None = None):
        """Batched call: (logits [B, T, V], present) with position ids from the (left-padded) mask."""
        ids, mask = np.asarray(ids, dtype=np.int64), np.asarray(mask, dtype=np.int64)
        batch, n = ids.shape
        order = self._right_padded(mask, n, past is not None)
        if order is not None:  # fused attention reads lengths as right padding: real tokens go first
            ids, mask = np.take_along_axis(ids, order, -1), np.take_along_axis(mask, order, -1)
        past = past or {p: self._empty(p, batch) for p in self.past_names}
        positions = np.maximum(np.cumsum(mask, axis=-1) - 1, 0)[:, -n:]
        self.fed_tokens += ids.size
        out = self.session.run({"input_ids": ids, "attention_mask": mask, "position_ids": positions, **past})
        present = {p: out[q] for p, q in zip(self.past_names, self.present_names, strict=True)}
        logits = out["logits"].numpy()
        if order is not None:  # rows back where the caller's padding put them
            logits = np.take_along_axis(logits, np.argsort(order, axis=-1)[..., None], 1)
        return logits, present

    def _right_padded(self, mask: np.ndarray, n: int, has_past: bool) -> np.ndarray | None:
        """The per-row order that moves a padded prompt's tokens first, for a right-padding graph
        (GroupQueryAttention: a row's length is its mask's sum); None: run as given.

        Its present then holds each row's tokens first, which is what later steps' summed masks
        say, whatever side the caller pads on."""
        new = mask[:, -n:]
        if not self.right_padding or bool(new.all()):
            return None
        if has_past:
            raise InvalidRequestError("a fused-attention graph takes padding in the prompt only, not in "
                                      "tokens added to a cache")
        return np.argsort(1 - new, axis=-1, kind="stable")

    def start(self, ids: list[int]) -> np.ndarray:
        """Logits after `ids`, continuing from the cached state with the longest common prefix."""
        ids = list(ids)
        state, n = self.cache.best(ids)
        if state is not None and n == len(ids) == len(state.ids) and state.logits is not None:
            if self.kv is not None:  # the very same prompt: its K/V into the buffer, no run
                self._load(state, n)
                if not state.in_buffer:  # the buffer holds all of it now: its own copy goes
                    self.cache.put(state := PastState(state.ids, {}, state.logits, state.key, in_buffer=True))
            self._live = state
            return state.logits
        n = min(n, len(ids) - 1)  # at least one token runs, to give the logits after the last one
        if self.kv is not None:
            self._load(state, n)
            self._live = PastState(ids[:n], {}, in_buffer=True)
        elif state is None or n == 0:
            self._live = PastState([], {p: self._empty(p, 1) for p in self.past_names})
        else:
            self._live = PastState(ids[:n], state.past if n == len(state.ids) else slice_past(state.past, n))
        logits = self._advance(ids[n:])
        self.cache.put(self._live)
        return logits

    def _load(self, state: PastState | None, n: int) -> None:
        """Make the shared buffer hold `state`'s first n positions (None: none). The live state it
        holds is copied out first when the cache keeps it and the next run would overwrite it."""
        live, kv = self._live, self.kv
        if live.in_buffer and (state is not live or n < len(live.ids)) and self.cache.holds(live):
            live.past, live.in_buffer = kv.snapshot(len(live.ids)), False  # a memcpy, not a recomputation
        if state is live:
            kv.truncate(n)
        elif state is None or n == 0:
            kv.truncate(0)
        else:
            kv.load(state.past, n)

    def step(self, token: int) -> np.ndarray:
        return self._advance([token])

    def feed(self, tokens: list[int]) -> np.ndarray:
        """Logits [len(tokens), V] after each of `tokens`, appended to the live state in one run."""
        return self._advance(list(tokens), every_row=True)

    def rollback(self, n: int) -> None:
        """Forget the live state's last n tokens (a rejected draft): the shared buffer only moves its
        length back; a growing past is sliced (a copy)."""
        if n <= 0:
            return
        live = self._live
        keep = len(live.ids) - n
        if self.kv is not None:
            self.kv.truncate(keep)
            self._live = PastState(live.ids[:keep], {}, None, live.key, in_buffer=True)
        else:
            self._live = PastState(live.ids[:keep], slice_past(live.past, keep), None, live.key)
        if live.key:
            self.cache.put(self._live)

    def verify(self, prefix: list[int], draft: list[int]) -> np.ndarray:
        """Logits [len(draft) + 1, V] after prefix, prefix + draft[:1], ...: one run of the draft on the past."""
        first = self.start(prefix)
        if not draft:
            return first[None].copy()
        return np.concatenate([first[None], self.feed(draft)])

    def _advance(self, new: list[int], every_row: bool = False) -> np.ndarray:
        if self.kv is not None:
            return self._advance_shared(new, every_row)
        live, n = self._live, len(new)
        total = len(live.ids) + n
        if total > self._ones.shape[1]:
            self._ones = np.ones((1, 2 * total), dtype=np.int64)
        positions = np.arange(len(live.ids), total, dtype=np.int64)[None]
        self.fed_tokens += n
        out = self.session.run({"input_ids": np.asarray([new], dtype=np.int64),
                                "attention_mask": self._ones[:, :total], "position_ids": positions, **live.past})
        # a new state object: cached states stay what they were (ORT's presents are new OrtValues)
        rows = out["logits"].numpy()[0]
        logits = rows[-1].copy()  # the row alone: a prefill's [T, V] is large
        self._live = PastState(live.ids + new, {p: out[q] for p, q in zip(self.past_names, self.present_names,
                                                                          strict=True)}, logits, live.key)
        if live.key:
            self.cache.put(self._live)
        return rows if every_row else logits

    def _advance_shared(self, new: list[int], every_row: bool) -> np.ndarray:
        """`new` appended in the shared buffer; the live state (cached under its key) grows with it."""
        live = self._live
        self.fed_tokens += len(new)
        rows = self.kv.run(new)
        logits = rows[-1].copy()
        self._live = PastState(live.ids + new, {}, logits, live.key, in_buffer=True)
        if live.key:
            self.cache.put(self._live)
        return (rows.copy() if len(new) == 1 else rows) if every_row else logits

    def teacher_forced(self, ids: list[int]) -> np.ndarray:
        """Logits [T, V] at every position of `ids` (one prefill, no cache)."""
        return self.forward(np.asarray([ids]), np.ones((1, len(ids)), dtype=np.int64))[0][0]


class Seq2SeqLM:
    """encoder_model.onnx + decoder_model_merged.onnx (use_cache_branch selects the with-past branch)."""

    def __init__(self, directory: Path, options: RuntimeOptions, decoder_start_token_id: int) -> None:
        self.encoder = Session(directory / "encoder_model.onnx", options)
        self.decoder = Session(directory / "decoder_model_merged.onnx", options)
        self.start_id = decoder_start_token_id
        self.past_names = [n for n in self.decoder.inputs if n.startswith("past_key_values.")]
        self.present_names = ["present." + n.removeprefix("past_key_values.") for n in self.past_names]
        self._state: dict[str, Any] = {}
        self._enc: dict[str, Any] = {}
        self.cache = EncoderCache()  # encoder ids -> (encoder output, first logits, decoder state)
        self.fed_tokens = 0  # encoder + decoder tokens given to the sessions so far

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
        self.fed_tokens += ids.size
        out = self.encoder.run({"input_ids": ids, "attention_mask": mask})
        return {"encoder_hidden_states": out["last_hidden_state"], "encoder_attention_mask": mask}

    def forward(self, ids: np.ndarray, mask: np.ndarray, decoder_ids: np.ndarray,
                past: dict[str, Any] | None = None):
        """Batched call: (logits [B, T, V], present); `past` None runs the no-cache branch."""
        if past is None:  # a new sequence: encode once, keep the encoder output for the steps
            ids, mask = np.asarray(ids, dtype=np.int64), np.asarray(mask, dtype=np.int64)
            self._enc = self.encode(ids, mask)
        feeds = past if past is not None else self._dummy_past(ids.shape[0], ids.shape[1])
        decoder_ids = np.asarray(decoder_ids, dtype=np.int64)
        self.fed_tokens += decoder_ids.size
        out = self.decoder.run({**self._enc, "input_ids": decoder_ids,
                                "use_cache_branch": np.array([past is not None]), **feeds})
        present = {p: out[q] for p, q in zip(self.past_names, self.present_names, strict=True)}
        if past is not None:  # the with-past branch outputs placeholder encoder K/V: keep the real ones
            present.update((p, past[p]) for p in self.past_names if ".encoder." in p)
        return out["logits"].numpy(), present

    def _dummy_past(self, batch: int, enc_len: int) -> dict[str, np.ndarray]:
        return {p: self.decoder.empty_past(p, batch, enc_len if ".encoder." in p else 0) for p in self.past_names}

    def start(self, ids: list[int]) -> np.ndarray:
        """Logits of the first decoder step over encoder input `ids` (cached by those ids)."""
        hit = self.cache.get(ids)
        if hit is None:
            arr = np.asarray([ids], dtype=np.int64)
            logits, state = self.forward(arr, np.ones_like(arr), np.array([[self.start_id]]))
            hit = (self._enc, logits[0, -1].copy(), state)
            self.cache.put(ids, hit)
        self._enc, logits, self._state = hit
        return logits

    def step(self, token: int) -> np.ndarray:
        logits, present = self.forward(None, None, np.array([[token]]), self._state)
        self._state = present
        return logits[0, -1]

    def teacher_forced(self, ids: list[int]) -> np.ndarray:
        """Decoder logits [T, V] for decoder input [start] + ids[:-1] over encoder input `ids`."""
        arr = np.asarray([ids], dtype=np.int64)
        dec = np.asarray([[self.start_id, *ids[:-1]]], dtype=np.int64)
        return self.forward(arr, np.ones_like(arr), dec)[0][0]


def load_model(directory: Path, *, encoder_decoder: bool, options: RuntimeOptions | None = None,
               decoder_start_token_id: int = 0) -> CausalLM | Seq2SeqLM:
    """Open the ONNX files of an (exported or staged) bundle directory."""
    options = options or RuntimeOptions()
    if encoder_decoder:
        return Seq2SeqLM(Path(directory), options, decoder_start_token_id)
    return CausalLM(Path(directory), options)


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode table (byte-level BPE token text -> raw bytes)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def vocab_bytes(tokenizer: Any) -> list[bytes]:
    """The raw bytes of every token (special tokens: b''), byte-level BPE or sentencepiece style."""
    spec = json.loads(tokenizer.to_str())
    byte_level = "ByteLevel" in json.dumps(spec.get("decoder"))
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    table, inv = [b""] * tokenizer.get_vocab_size(), _byte_decoder()
    for piece, tid in tokenizer.get_vocab(with_added_tokens=True).items():
        if tid in special or tid >= len(table):
            continue
        if byte_level and all(c in inv for c in piece):
            table[tid] = bytes(inv[c] for c in piece)
        elif piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
            table[tid] = bytes([int(piece[3:5], 16)])
        else:
            table[tid] = piece.replace("\u2581", " ").encode("utf-8")
    return table


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    capabilities = Capabilities(streaming=True, json_schema=True, encoder_decoder=True, logits=True,
                                logprobs=True, logits_hook=True)
    last_logits: np.ndarray | None = None  # set at each generated token (for logprobs)

    def __init__(self, ref: ModelRef, options: RuntimeOptions, *, controller: Controller | None = None) -> None:
        """`controller`: speculation's cost model (default `Controller()`; tests pass an eager one)."""
        from tokenizers import Tokenizer

        manifest = ref.manifest
        if not isinstance(manifest, OnnxManifest):
            raise ModelFormatError(f"{ref.path} is not an ONNX bundle: export one with `edgesplit export onnx`")
        rt = manifest.runtime
        self._rt, self.quantization = rt, manifest.quantization
        self.model = load_model(ref.path, encoder_decoder=manifest.encoder_decoder, options=options,
                                decoder_start_token_id=rt.decoder_start_token_id or 0)
        self._tok = Tokenizer.from_file(str(ref.path / (manifest.tokenizer or "tokenizer.json")))
        self._bytes = vocab_bytes(self._tok)
        self._eog = frozenset(rt.eog_token_ids)
        self._matchers = MatcherCache(lambda: Vocabulary.from_texts([utf8_or_none(b) for b in self._bytes],
                                                                    sorted(self._eog)))
        n_train = rt.n_ctx_train
        self.info = ModelInfo(
            architecture=manifest.architecture, n_ctx=min(options.n_ctx, n_train or options.n_ctx),
            n_ctx_train=n_train, n_vocab=rt.n_vocab, chat_template=manifest.chat_template,
            bos_token=rt.bos_token, eos_token=rt.eos_token, add_bos=rt.add_bos,
            encoder_decoder=manifest.encoder_decoder, n_params=rt.n_params,
            file_bytes=sum((ref.path / f).stat().st_size for f in manifest.files),
            execution_providers=tuple(self.providers),
        )
        self._spec = _speculation(self, options, controller)

    @property
    def providers(self) -> list[str]:
        model = self.model
        return (model.session if isinstance(model, CausalLM) else model.decoder).providers

    def tokenize(self, text: str, *, add_bos: bool, special: bool = True) -> list[int]:
        # an encoder input gets the tokenizer's own special tokens (T5: `</s>` at the end)
        ids = self._tok.encode(text, add_special_tokens=self.info.encoder_decoder).ids
        bos = self._tok.token_to_id(self.info.bos_token) if self.info.bos_token else None
        if add_bos and bos is not None and not self.info.encoder_decoder:
            ids = [bos, *ids]
        return ids

    def detokenize(self, ids: list[int], special: bool = False) -> bytes:
        if special:  # special tokens have no bytes in the table: their text comes from the tokenizer
            return b"".join(self._bytes[i] or (self._tok.id_to_token(i) or "").encode() if 0 <= i < len(self._bytes)
                            else b"" for i in ids)
        return b"".join(self._bytes[i] if 0 <= i < len(self._bytes) else b"" for i in ids)

    def is_end_of_generation(self, token_id: int) -> bool:
        return token_id in self._eog

    def generate(self, prompt_ids: list[int], params: SamplingParams,
                 hook: LogitsHook | None = None) -> Iterator[int]:
        if self._spec is not None:
            self._spec.reset()
            if self._spec.serves(params, hook) and self._fits_matcher(params):
                return self._speculative(prompt_ids, params)
        return self._plain(prompt_ids, params, hook)

    def _fits_matcher(self, params: SamplingParams) -> bool:
        """A grammar's token masks cover the tokenizer's vocabulary: speculation needs it to be the logits'."""
        return (params.json_schema is None and params.grammar is None) or len(self._bytes) == self.info.n_vocab

    def _speculative(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[int]:
        spec = self._spec
        for token in spec.generate(prompt_ids, params):
            self.last_logits = spec.row
            yield token

    @property
    def speculation(self):
        """What speculative decoding did in the last `generate` (None when it did not run)."""
        return None if self._spec is None else self._spec.stats

    def _plain(self, prompt_ids: list[int], params: SamplingParams, hook: LogitsHook | None) -> Iterator[int]:
        sampler = Sampler(params)
        matcher = self._matchers.matcher(params.json_schema, params.grammar)
        logits = self.model.start(list(prompt_ids))
        n, out = len(prompt_ids), []
        while True:
            self.last_logits = logits  # the raw distribution of this step (for logprobs)
            if hook is not None:
                logits = hook(list(out), np.array(logits, dtype=np.float32))
            allowed = None if matcher is None else _Fitted(matcher.constraint(), len(logits))
            token = sampler(logits, allowed)
            out.append(token)
            yield token
            if matcher is not None:
                matcher.accept(token)
            n += 1
            if n >= self.info.n_ctx:
                return
            logits = self.model.step(token)

    def next_token_logits(self, prompt_ids: list[int]) -> np.ndarray:
        return np.asarray(self.model.start(list(prompt_ids)), dtype=np.float32).copy()

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]  # sessions free their memory when dropped


def _speculation(backend: OnnxRuntimeBackend, options: RuntimeOptions, controller: Controller | None):
    """Draft-free speculation over a decoder-only model (None: off, or an encoder-decoder model)."""
    from .onnx_spec import OnnxSpeculation, speculates

    model = backend.model
    if not isinstance(model, CausalLM) or not speculates(options.speculative, backend.quantization):
        return None
    n_vocab = max(backend.info.n_vocab, len(backend._bytes))  # the recycling table is indexed by token ids
    return OnnxSpeculation(model, n_vocab, backend.info.n_ctx, backend._matchers, options.speculative, controller)


class _Fitted:
    """A grammar constraint over logits whose width is the ONNX vocab (it may be padded)."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.n = inner, n

    def allows(self, token_id: int) -> bool:
        return self.inner.allows(token_id)  # a padded id has no text: refused

    def mask(self) -> np.ndarray:
        return _fit(self.inner.mask(), self.n)


def _fit(mask: np.ndarray, n: int) -> np.ndarray:
    """Pad/cut a vocabulary mask to the logits width (ONNX vocab may be padded past the tokenizer)."""
    if len(mask) == n:
        return mask
    out = np.zeros(n, dtype=bool)
    out[: min(n, len(mask))] = mask[:n]
    return out
