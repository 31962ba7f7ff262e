"""Token-level matching of the grammar IR, for backends without a grammar engine (ONNX Runtime, T5 GGUF).

The IR (grammar.py) is flattened into integer nodes; a matcher state is the set of parse stacks
still alive (a stack is a tuple of node ids, top last), interned to an int. Per state we compute
the allowed-token mask by walking the vocabulary in sorted order: consecutive tokens share a
prefix, so its states are reused and a dead prefix skips every token that starts with it.
Masks and character transitions are cached per state, so repeated states (inside a JSON
string, say) cost one lookup. Tokens whose bytes are not valid UTF-8 on their own are never
allowed (a character split across tokens cannot be matched).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidRequestError
from .grammar import Alt, Chars, Expr, Grammar, Lit, Ref, Rep, Seq

DEAD = -1
Stack = tuple[int, ...]
MAX_GRAMMARS = 16  # compiled grammars kept per model (least recently used go first)
# vocabulary masks kept per compiled grammar (one bool per token: 48 KB at a 49k vocabulary), least
# recently used go first: a sampled walk through a large grammar visits new states without end
MAX_MASKS = 64


@dataclass(frozen=True)
class Vocabulary:
    """Token texts (None for special or non-UTF-8 tokens) in a sorted walk order."""

    texts: tuple[str | None, ...]
    order: np.ndarray  # token ids sorted by text
    lcp: np.ndarray  # common prefix length of each sorted token with the previous one
    eog_ids: tuple[int, ...]

    @classmethod
    def from_texts(cls, texts: Sequence[str | None], eog_ids: Sequence[int]) -> Vocabulary:
        ids = sorted((i for i, t in enumerate(texts) if t), key=lambda i: texts[i])
        lcp, prev = [], ""
        for i in ids:
            t, n = texts[i], 0
            while n < min(len(t), len(prev)) and t[n] == prev[n]:
                n += 1
            lcp.append(n)
            prev = t
        return cls(tuple(texts), np.array(ids, dtype=np.int64), np.array(lcp, dtype=np.int64), tuple(eog_ids))


class CompiledGrammar:
    """A grammar flattened for matching, with caches shared by every request that uses it."""

    def __init__(self, grammar: Grammar, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self._nodes: list[tuple] = []
        self._ids: dict[tuple, int] = {}
        self._rules = {name: -1 for name in grammar.rules}
        for name, expr in grammar.rules.items():
            self._rules[name] = self._flatten(expr)
        self._states: list[frozenset[Stack]] = []
        self._state_ids: dict[frozenset[Stack], int] = {}
        self._step: dict[tuple[int, str], int] = {}
        self._masks: OrderedDict[int, np.ndarray] = OrderedDict()
        self.start = self._intern(self._closure([(self._rules[grammar.root],)]))

    # -- IR -> integer nodes ------------------------------------------------------------------
    def _node(self, key: tuple) -> int:
        if key not in self._ids:
            self._ids[key] = len(self._nodes)
            self._nodes.append(key)
        return self._ids[key]

    def _flatten(self, e: Expr) -> int:
        match e:
            case Lit(text):
                return self._node(("lit", text))
            case Chars():
                return self._node(("chars", e))
            case Seq(items):
                return self._node(("seq", tuple(self._flatten(i) for i in items)))
            case Alt(options):
                return self._node(("alt", tuple(self._flatten(o) for o in options)))
            case Rep(item, lo, hi):
                return self._node(("rep", self._flatten(item), lo, hi))
            case Ref(name):
                if name not in self._rules:
                    raise InvalidRequestError(f"grammar refers to an undefined rule {name!r}")
                return self._node(("ref", name))
        raise TypeError(f"not a grammar expression: {e!r}")

    # -- stacks and states ----------------------------------------------------------------------
    def _closure(self, stacks: list[Stack]) -> frozenset[Stack]:
        """Expand stacks until each top is a terminal (a literal or a character class) or empty."""
        out: set[Stack] = set()
        seen: set[Stack] = set()
        while stacks:
            s = stacks.pop()
            if s in seen:
                continue
            seen.add(s)
            if not s:
                out.add(s)
                continue
            node, rest = self._nodes[s[-1]], s[:-1]
            kind = node[0]
            if kind == "lit":
                if node[1]:
                    out.add(s)
                else:
                    stacks.append(rest)
            elif kind == "chars":
                out.add(s)
            elif kind == "seq":
                stacks.append(rest + node[1][::-1])
            elif kind == "alt":
                stacks.extend(rest + (o,) for o in node[1])
            elif kind == "rep":
                stacks.extend(self._rep(rest, node[1], node[2], node[3]))
            else:  # ref
                stacks.append(rest + (self._rules[node[1]],))
        return frozenset(out)

    def _rep(self, rest: Stack, item: int, lo: int, hi: int | None) -> list[Stack]:
        out = [rest] if lo == 0 else []
        if hi is None or hi > 0:
            again = self._node(("rep", item, max(lo - 1, 0), None if hi is None else hi - 1))
            out.append(rest + (again, item))
        return out

    def _intern(self, stacks: frozenset[Stack]) -> int:
        if not stacks:
            return DEAD
        sid = self._state_ids.get(stacks)
        if sid is None:
            sid = self._state_ids[stacks] = len(self._states)
            self._states.append(stacks)
        return sid

    def advance(self, state: int, ch: str) -> int:
        """The state after consuming character `ch` (DEAD when no stack accepts it)."""
        key = (state, ch)
        nxt = self._step.get(key)
        if nxt is None:
            nxt = self._step[key] = self._intern(self._closure(self._consume(state, ch)))
        return nxt

    def _consume(self, state: int, ch: str) -> list[Stack]:
        moved = []
        for s in self._states[state]:
            if not s:
                continue
            node = self._nodes[s[-1]]
            if node[0] == "lit" and node[1][0] == ch:
                moved.append(s[:-1] + (self._node(("lit", node[1][1:])),))
            elif node[0] == "chars" and node[1].matches(ch):
                moved.append(s[:-1])
        return moved

    def accepting(self, state: int) -> bool:
        return state != DEAD and () in self._states[state]

    def advance_text(self, state: int, text: str) -> int:
        for ch in text:
            state = self.advance(state, ch)
            if state == DEAD:
                break
        return state

    def allows(self, state: int, token_id: int) -> bool:
        """`mask(state)[token_id]`, from that one token's text (no mask is built)."""
        v = self.vocab
        if token_id in v.eog_ids and self.accepting(state):
            return True
        text = v.texts[token_id] if 0 <= token_id < len(v.texts) else None
        return bool(text) and self.advance_text(state, text) != DEAD

    def mask(self, state: int) -> np.ndarray:
        """Boolean mask over the vocabulary of tokens allowed in `state` (EOG when complete)."""
        cached = self._masks.get(state)
        if cached is None:
            cached = self._masks[state] = self._compute_mask(state)
            if len(self._masks) > MAX_MASKS:
                self._masks.popitem(last=False)
        else:
            self._masks.move_to_end(state)
        return cached

    def _compute_mask(self, state: int) -> np.ndarray:
        v = self.vocab
        allowed = np.zeros(len(v.texts), dtype=bool)
        prefix = [state]  # prefix[d] = state after the first d characters of the current token
        dead_at = -1  # depth where the previous token died, -1 if it did not
        for tid, lcp in zip(v.order.tolist(), v.lcp.tolist(), strict=True):
            if 0 <= dead_at < lcp:
                continue  # shares the dead prefix
            dead_at = -1
            del prefix[lcp + 1:]
            text, st = v.texts[tid], prefix[-1]
            for d in range(lcp, len(text)):
                st = self.advance(st, text[d])
                if st == DEAD:
                    dead_at = d
                    break
                prefix.append(st)
            else:
                allowed[tid] = True
        if self.accepting(state):
            allowed[list(v.eog_ids)] = True
        return allowed


class StateConstraint:
    """The tokens a grammar state allows, as a sampler constraint: a greedy pick asks `allows` of
    its one token and builds the whole `mask` only when that token is refused."""

    __slots__ = ("compiled", "state")

    def __init__(self, compiled: CompiledGrammar, state: int) -> None:
        self.compiled, self.state = compiled, state

    def allows(self, token_id: int) -> bool:
        return self.compiled.allows(self.state, token_id)

    def mask(self) -> np.ndarray:
        mask = self.compiled.mask(self.state)
        if not mask.any():  # e.g. T5's vocabulary has no "{": sampling from nothing must not pick token 0
            raise InvalidRequestError("no token of this model's vocabulary continues the grammar here: "
                                      "the model cannot write this JSON schema / grammar")
        return mask


class GrammarMatcher:
    """One generation's position in a compiled grammar."""

    def __init__(self, compiled: CompiledGrammar) -> None:
        self.compiled = compiled
        self.state = compiled.start

    def allowed(self) -> np.ndarray:
        return self.constraint().mask()

    def constraint(self, state: int | None = None) -> StateConstraint:
        """The tokens allowed at the current state (or at `state`), checked lazily."""
        return StateConstraint(self.compiled, self.state if state is None else state)

    def accept(self, token_id: int) -> None:
        if token_id in self.compiled.vocab.eog_ids:
            return
        text = self.compiled.vocab.texts[token_id]
        nxt = self.compiled.advance_text(self.state, text) if text else DEAD
        if nxt == DEAD:
            raise InvalidRequestError(f"token {token_id} ({text!r}) does not continue the grammar")
        self.state = nxt

    @property
    def complete(self) -> bool:
        return self.compiled.accepting(self.state)


class MatcherCache:
    """Per-backend factory of matchers: the vocabulary and each compiled grammar are built once.

    `vocabulary` reads the backend's token texts and end-of-generation ids; it runs on the first
    constrained request only, so loading a model and unconstrained use never pay for it.
    """

    def __init__(self, vocabulary: Callable[[], Vocabulary]) -> None:
        self._make_vocab = vocabulary
        self._vocab: Vocabulary | None = None
        self._grammars: OrderedDict[str, CompiledGrammar] = OrderedDict()

    def matcher(self, schema: dict | None, grammar: Grammar | None = None) -> GrammarMatcher | None:
        """A fresh matcher for a JSON schema or a grammar in the IR (None: free text)."""
        from .schema import schema_to_grammar

        if schema is None and grammar is None:
            return None
        # by content: an id() could name another grammar once the first is freed
        key = "schema:" + json.dumps(schema, sort_keys=True) if schema is not None else "grammar:" + repr(grammar)
        compiled = self._grammars.get(key)
        if compiled is None:
            if self._vocab is None:
                self._vocab = self._make_vocab()
            ir = schema_to_grammar(schema) if schema is not None else grammar
            compiled = self._grammars[key] = CompiledGrammar(ir, self._vocab)
            while len(self._grammars) > MAX_GRAMMARS:  # each holds its masks: distinct requests must not pile up
                self._grammars.popitem(last=False)
        self._grammars.move_to_end(key)
        return GrammarMatcher(compiled)


def utf8_or_none(b: bytes) -> str | None:
    """A token's text for matching: None when its bytes are empty or not UTF-8 on their own."""
    try:
        return b.decode("utf-8") or None
    except UnicodeDecodeError:
        return None
