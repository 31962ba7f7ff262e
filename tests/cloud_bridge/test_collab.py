"""Collaboration that earns its calls: uncertainty-gated steps, batched verification, weak-to-strong
fusion — against a real edgesplit server as the cloud, recorded byte for byte."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cloud_bridge.client import CloudClient, CloudConfig
from cloud_bridge.cogenesis import CoGenesis, CollabOptions
from cloud_bridge.entities import entities_from_dict
from cloud_bridge.fusion import Schedule
from cloud_bridge.pii import Detector
from cloud_bridge.policies import UNCERTAINTY, Always, Gate, make_policy
from cloud_bridge.w2s import dynamic_alpha, support, w2s_fuse
from edge.errors import InvalidRequestError
from edge.sampling import log_softmax
from edge.server.app import create_app

from .realserver import serve
from .test_cogenesis import leaks
from .test_real_server import Recorder

TOKENS = 12


@pytest.fixture(scope="module")
def cloud(cloud_engine):
    recorder = Recorder(create_app(engines={"default": cloud_engine}, apps={}))
    with serve(recorder) as root:
        yield recorder, f"{root}/v1"


def _write(engine, url: str, sample, **opts):
    client = CloudClient(CloudConfig(url=url, timeout=120.0, retries=0))
    session = CoGenesis(engine, client, "logits", Detector(known=entities_from_dict(sample.profile)))
    result = session.write(sample.instruction, sample.context,
                           CollabOptions(max_tokens=TOKENS, top_k=5, temperature=0.0, **opts))
    client.session = session  # type: ignore[attr-defined]  # for tests that replay the pseudonymizer
    return result, client


def _completions(recorder) -> list[dict]:
    return [json.loads(b) for p, b in recorder.received if p == "/v1/completions"]


def _local_path_uncertainty(engine, sample, tokens: list[int], metric: str) -> list[float]:
    """The local model's uncertainty at every step of a finished answer (walked with a forcing hook)."""
    from cloud_bridge.cogenesis import LOCAL_SYSTEM

    messages = [{"role": "system", "content": LOCAL_SYSTEM.format(context=sample.context)},
                {"role": "user", "content": sample.instruction}]
    seen: list[float] = []

    def force(generated, logits):
        seen.append(UNCERTAINTY[metric](log_softmax(logits)))
        out = np.full_like(logits, -np.inf)
        out[tokens[len(generated)]] = 0.0
        return out

    engine.generate(messages, max_tokens=len(tokens), temperature=0.0, ignore_eos=True, logits_hook=force)
    return seen


@pytest.mark.slow
def test_gated_policy_consults_exactly_the_uncertain_steps(cloud, default_engine, corpus):
    recorder, url = cloud
    sample = corpus[3].head(3)
    local, _ = _write(default_engine, url, sample, policy=make_policy("never"))
    threshold = float(np.median(_local_path_uncertainty(default_engine, sample, local.token_ids, "entropy")))
    recorder.received.clear()
    result, client = _write(default_engine, url, sample, policy=Gate("entropy", threshold))
    got, session = result.token_ids, client.session
    unsure = [s for s, u in enumerate(_local_path_uncertainty(default_engine, sample, got, "entropy"))
              if u >= threshold]
    assert result.consulted_steps == len(unsure) and 0 < len(unsure) < result.steps
    # each request is the context-free prompt plus the (de-identified) text generated before an unsure
    # step; a step whose text ends in the start of a private value is not sent at all
    cloud_prompt = default_engine.render([{"role": "user", "content": session.pseud.pseudonymize(sample.instruction)[0]}])
    texts = [default_engine.decode_bytes(got[:s]).decode("utf-8", "ignore") for s in unsure]
    want = [cloud_prompt + session.pseud.pseudonymize(t)[0] for t in texts if not session.pseud_tail_unsafe(t)]
    assert [b["prompt"] for b in _completions(recorder)] == want and want
    assert result.cloud_calls == client.stats.calls and result.bytes_sent == client.stats.bytes_sent > 0
    assert leaks([b for _, b in recorder.received], sample.values()) == []


@pytest.mark.slow
@pytest.mark.parametrize(("policy", "draft"), [(Schedule(prefix=4, local=2, fused=2), "local"), (Always(), "local"),
                                               (Always(), "cloud"), (Always(), "tree")],
                         ids=["schedule", "always", "always-cloud-draft", "always-tree"])
def test_batched_verification_equals_per_token_fusion_with_fewer_calls(cloud, default_engine, corpus, policy, draft):
    recorder, url = cloud
    sample = corpus[9].head(3)
    recorder.received.clear()
    per_token, _ = _write(default_engine, url, sample, policy=policy)
    n_per_token = len(_completions(recorder))
    recorder.received.clear()
    batched, client = _write(default_engine, url, sample, policy=policy, batch=8, draft=draft)
    calls = _completions(recorder)
    if draft == "local":  # an echo scores a run; where merged tokens keep it from serving a step, a list of prompts
        assert any(c.get("echo") or isinstance(c["prompt"], list) for c in calls)
        assert True in (client.echo_scoring, client.prompt_lists)
    elif draft == "tree":  # each call echoes a list of candidate paths (edgesplit's server echoes lists)
        assert all(isinstance(c["prompt"], list) and c["echo"] or c["max_tokens"] == 1 for c in calls)
        assert client.prompt_lists and client.echo_lists
    else:  # the cloud continues the text itself: a plain completion of several tokens, no echo
        assert any(c["max_tokens"] > 1 and not c.get("echo") for c in calls)
    assert batched.text == per_token.text and batched.fused_steps == per_token.fused_steps
    assert 0 < len(calls) < n_per_token
    # every run but the last keeps a token (the last may end on an end-of-generation pick)
    assert 1 <= batched.runs <= batched.completion_tokens + 1 and per_token.runs == 0
    assert leaks([b for _, b in recorder.received], sample.values()) == []


def test_batched_falls_back_to_per_token_where_the_endpoint_cannot_echo(fake_cloud, default_engine, corpus):
    sample = corpus[9].head(3)
    policy = Schedule(prefix=3, local=1, fused=1)
    per_token, _ = _write(default_engine, fake_cloud.url, sample, policy=policy)
    batched, client = _write(default_engine, fake_cloud.url, sample, policy=policy, batch=6)
    assert client.echo_scoring is False and client.prompt_lists is False and batched.text == per_token.text


def test_a_tree_needs_an_endpoint_that_takes_lists(fake_cloud, default_engine, corpus):
    sample = corpus[9].head(3)
    per_token, _ = _write(default_engine, fake_cloud.url, sample, policy=Always())
    tree, client = _write(default_engine, fake_cloud.url, sample, policy=Always(), batch=6, draft="tree")
    assert client.prompt_lists is False and tree.text == per_token.text


def test_a_tree_lists_nodes_where_the_endpoint_takes_lists_but_echoes_none(fake_cloud, default_engine, corpus):
    sample = corpus[9].head(3)
    fake_cloud.reset("lists")
    per_token, _ = _write(default_engine, fake_cloud.url, sample, policy=Always())
    fake_cloud.received.clear()
    tree, client = _write(default_engine, fake_cloud.url, sample, policy=Always(), batch=6, draft="tree")
    assert client.prompt_lists is True and client.echo_lists is False and tree.text == per_token.text
    listed = [json.loads(b) for p, b in fake_cloud.received if p == "/v1/completions"]
    assert any(isinstance(b["prompt"], list) and not b.get("echo") for b in listed)


def test_a_dead_cloud_in_batched_mode_still_answers_locally(default_engine, corpus, dead_url):
    sample = corpus[9].head(3)
    result, _ = _write(default_engine, dead_url, sample, policy=Always(), batch=6)
    assert result.mode_used in ("sketch", "local") and result.text.strip() and result.cloud_error


def test_batched_mode_refuses_sampling():
    with pytest.raises(InvalidRequestError, match="temperature 0"):
        CollabOptions(batch=4, temperature=0.7)


def test_uncertainty_metrics_and_gate():
    sure, unsure = np.log(np.array([0.97, 0.01, 0.01, 0.01])), np.log(np.full(4, 0.25))
    for name, fn in UNCERTAINTY.items():
        assert fn(unsure) > fn(sure), name
    assert UNCERTAINTY["entropy"](unsure) == pytest.approx(np.log(4))
    assert UNCERTAINTY["margin"](sure) == pytest.approx(1 - 0.96)
    assert Gate("top1", 0.5).consult(0, unsure) and not Gate("top1", 0.5).consult(0, sure)
    with pytest.raises(InvalidRequestError, match="known"):
        Gate("perplexity", 1.0)
    from cloud_bridge.policies import DEFAULT_THRESHOLD

    assert Gate() == Gate("entropy", DEFAULT_THRESHOLD["entropy"])  # each metric has its measured default
    assert {m: Gate(m).threshold for m in UNCERTAINTY} == DEFAULT_THRESHOLD
    with pytest.raises(InvalidRequestError, match=">= 0"):
        Gate("entropy", float("nan"))


def _numpy_w2s(cloud: dict[int, float], tuned: np.ndarray, base: np.ndarray, alpha: float, ids) -> dict[int, float]:
    floor = min(cloud.values())
    raw = {t: cloud.get(t, floor) + alpha * (tuned[t] - base[t]) for t in ids}
    lse = np.log(sum(np.exp(v) for v in raw.values()))
    return {t: v - lse for t, v in raw.items()}


def test_weak_to_strong_arithmetic_matches_numpy():
    rng = np.random.default_rng(0)
    tuned, base = log_softmax(rng.normal(size=12)), log_softmax(rng.normal(size=12))
    cloud = {int(t): float(v) for t, v in zip([3, 7, 1], np.log([0.5, 0.3, 0.1]), strict=True)}
    ids = [int(t) for t in support(cloud, tuned, 3)]
    assert set(ids) == set(cloud) | set(np.argsort(-tuned)[:3].tolist())
    got, alpha = w2s_fuse(cloud, tuned, base, 3, 0.7)
    want = _numpy_w2s(cloud, tuned, base, 0.7, ids)
    assert alpha == 0.7 and got.keys() == want.keys()
    assert all(abs(got[t] - want[t]) < 1e-9 for t in ids)
    assert w2s_fuse(cloud, tuned, tuned, 3, 1.5)[0] == pytest.approx(_numpy_w2s(cloud, tuned, tuned, 0.0, ids))


def test_dynamic_alpha_matches_the_tuning_shift():
    rng = np.random.default_rng(1)
    tuned, base = log_softmax(rng.normal(size=16)), log_softmax(rng.normal(size=16))
    cloud = {int(t): float(v) for t, v in enumerate(log_softmax(rng.normal(size=5)))}
    ids = support(cloud, tuned, 4)

    def kl(p, q):
        return float((np.exp(p) * (p - q)).sum())

    def norm(x):
        return x - np.log(np.exp(x).sum())

    target = kl(norm(tuned[ids]), norm(base[ids]))
    c0 = np.array(list(_numpy_w2s(cloud, tuned, base, 0.0, ids).values()))
    grid = (0.0, 0.5, 1.0, 2.0)
    errs = {a: abs(kl(np.array(list(_numpy_w2s(cloud, tuned, base, a, ids).values())), c0) - target) for a in grid}
    assert dynamic_alpha(cloud, tuned, base, ids, grid) == min(errs, key=errs.get)
    assert dynamic_alpha(cloud, tuned, tuned, ids, grid) == 0.0  # no tuning shift: the cloud alone


def test_echo_rows_are_trusted_only_where_the_tokens_spell_the_prompt():
    from cloud_bridge.client import parse_echo

    prompt = "ab\u00e9cd"  # "é" split over two tokens that each print as U+FFFD
    data = {"choices": [{"logprobs": {
        "tokens": ["a", "b", "\ufffd", "\ufffd", "c", "d", "!"],
        "text_offset": [0, 1, 2, 3, 4, 5, 6],
        "top_logprobs": [None, {"b": -0.1}, {"x": -1.0}, {"y": -1.0}, {"c": -0.2}, {"d": -0.3}, {"!": -0.5}]}}]}
    rows = parse_echo(data, prompt)
    assert rows == [(1, {"b": -0.1}), (2, {"x": -1.0})]  # after the split character nothing lines up
    only_generated = {"choices": [{"logprobs": {"tokens": ["!"], "text_offset": [0], "top_logprobs": [{"!": -0.5}]}}]}
    assert parse_echo(only_generated, prompt) is None and parse_echo({"choices": []}, prompt) is None


class _Session:
    """What `runs._aligned` reads of a logit session: the engine, its token map, the outbound text."""

    def __init__(self, engine, unsafe_after: int | None = None, refuse: str | None = None) -> None:
        from cloud_bridge.fusion import TokenMap

        self.engine, self.tokens, self.unsafe_after, self.refuse = engine, TokenMap(engine), unsafe_after, refuse

    def refused(self, text: str) -> bool:  # the leak guard's verdict
        return self.refuse is not None and self.refuse in text

    def outbound(self, generated: list[int], pseud=None) -> str | None:
        if self.unsafe_after is not None and len(generated) == self.unsafe_after:
            return None
        return "Q:" + self.engine.decode(generated)


def test_a_cloud_run_is_cut_where_per_token_fusion_would_have_sent_other_tokens(default_engine):
    from cloud_bridge.runs import _aligned

    s = _Session(default_engine)
    pieces = [" Hello", " world", "\n", "\n", "Bye"]  # the text "\n\n" is one token when it is sent as text
    assert len(default_engine.encode("\n\n")) == 1 and len(default_engine.encode("\n")) == 1
    got = [(p, {p: -0.1}) for p in pieces]
    tokens, clouds = _aligned(s, [], "Q:", got, None)
    assert len(tokens) == len(clouds) == 4  # position 4 would follow "\n\n" sent as one token: cut
    assert default_engine.decode(tokens) == " Hello world\n\n" and all(clouds[i] for i in range(4))
    # a step whose text per-token fusion would not send keeps no cloud distribution, the run goes on
    tokens, clouds = _aligned(_Session(default_engine, unsafe_after=1), [], "Q:", got[:2], None)
    assert len(tokens) == 2 and clouds[1] is None and clouds[0]
    # a step whose text the leak guard refuses ends the run: per-token fusion's call there fails
    tokens, clouds = _aligned(_Session(default_engine, refuse="world"), [], "Q:", got, None)
    assert default_engine.decode(tokens) == " Hello world" and list(clouds) == [0, 1]


def test_draft_chooser_measures_tokens_per_call():
    from cloud_bridge.runs import DraftChooser

    fixed = DraftChooser("cloud", batch=8)
    assert {fixed.pick() for _ in range(20)} == {"cloud"}
    auto = DraftChooser("auto", batch=8, probe_every=4)
    assert auto.pick() == "local"
    auto.record("local", 9, 0)  # no consulted step: free
    assert auto.pick() == "local"
    auto.record("local", 2, 3)
    assert auto.pick() == "cloud"  # local keeps few tokens per call: try the cloud's continuation
    auto.record("cloud", 8, 1)
    picks = [auto.pick() for _ in range(8)]
    assert picks.count("cloud") == 6 and picks.count("local") == 2  # the better side, the other now and then
    rich = DraftChooser("auto", batch=4)
    rich.record("local", 40, 2)
    assert {rich.pick() for _ in range(20)} == {"local"}  # a cloud run could not beat 20 tokens per call
    with pytest.raises(InvalidRequestError, match="draft"):
        CollabOptions(batch=4, draft="both")


def _logit_session(engine, url: str, known: dict | None = None):
    from cloud_bridge.cogenesis import CollabResult
    from cloud_bridge.logit_mode import LogitSession

    client = CloudClient(CloudConfig(url=url, timeout=120.0, retries=0))
    cg = CoGenesis(engine, client, "logits", Detector(known=entities_from_dict(known or {})))
    res = CollabResult(text="", mode="logits", mode_used="logits", cloud_used=False)
    prompt = engine.render([{"role": "user", "content": "Write a short note."}])
    return LogitSession(cg, res, engine.tokenize(prompt), prompt, CollabOptions(top_k=5, temperature=0.0, batch=8)), cg


def test_an_echo_row_is_used_only_where_the_cloud_saw_the_same_tokens(cloud, default_engine):
    """BPE writes "\n\n" as one token at the end of a text and as two before a word: the echo's row after
    "Hi,\n\n" follows other tokens than a per-token call on that text would, so it is not used."""
    _, url = cloud
    s, _ = _logit_session(default_engine, url)
    chosen = default_engine.encode("Hi,\n\nI hope")
    pieces = [default_engine.decode([t]) for t in chosen]
    assert pieces[:4] == ["Hi", ",", "\n", "\n"] and len(default_engine.encode("Hi,\n\n")) == 3
    s.cg.client.prompt_lists = False  # an endpoint without lists of prompts: the echo alone
    found = s.score_run([], chosen, [1, 2, 4, 5])
    assert set(found) == {1, 2, 5}  # 4 (after "\n" "\n") goes to a per-token call in the walk
    # the first step is the one the walk always reaches: the scored prompt is the longest that serves it
    first_served = s.score_run([], chosen, [4, 5])
    assert set(first_served) == {4}
    s.cg.client.prompt_lists = None  # edgesplit's server takes a list: one call with each step's own prompt
    listed = s.score_run([], chosen, [1, 2, 4, 5])
    assert set(listed) == {1, 2, 4, 5} and s.cg.client.prompt_lists is True
    for i, rows in [*found.items(), *first_served.items(), *listed.items()]:
        want = s.tokens.to_ids(s.cg.client.top_logprobs(s.outbound(chosen[:i]), 5, "test"))
        assert rows.keys() == want.keys()
        assert all(abs(rows[t] - want[t]) < 1e-3 for t in want)


def test_scoring_a_run_does_not_teach_the_conversation_its_future_text(cloud, default_engine):
    """The run's later steps are pseudonymized on a fork: per-token fusion would not have seen them yet,
    and what the mapping knows decides what later prompts may send."""
    _, url = cloud
    s, cg = _logit_session(default_engine, url)
    chosen = default_engine.encode(" Write to anna.berg@example.org today")
    before = cg.pseud.state()
    found = s.score_run([], chosen, list(range(1, len(chosen))))
    assert found and cg.pseud.state() == before
    fork = cg.pseud.fork()
    assert "anna.berg@example.org" not in s.outbound(chosen, fork)
    assert "anna.berg@example.org" in fork.state()["originals"].values()  # what scoring would have taught


@pytest.mark.parametrize(("echo_lists", "tail"), [(True, ", and"), (True, ".\n\n\n"), (False, ", and")],
                         ids=["echoed-paths", "echoed-paths-newlines", "listed-nodes"])
def test_a_tree_scores_each_candidate_as_its_own_per_token_prompt_and_teaches_nothing(cloud, default_engine,
                                                                                     echo_lists, tail):
    """Echoed paths: a few listed prompts, each echo scoring every node along its path; listed nodes
    (an endpoint without echoed lists): one prompt per node. Either way a node's row is what its own
    per-token call returns, and every listed prompt is exactly some node's per-token prompt. Newlines
    at the end of the answer so far are one token there and two before a word: the root is listed
    with its own prompt, and every node the walk may reach has its row."""
    from cloud_bridge.tree import tree_run

    recorder, url = cloud
    s, cg = _logit_session(default_engine, url)  # the e-mail address is found by its pattern
    s.opts = CollabOptions(policy=Always(), top_k=5, temperature=0.0, batch=6)
    cg.client.echo_lists = None if echo_lists else False
    out = default_engine.encode(" Write to anna.berg@example.org today" + tail)
    before = cg.pseud.state()
    recorder.received.clear()
    tree = tree_run(s, out, 4 if echo_lists else 6)
    assert tree is not None and cg.pseud.state() == before
    (call,) = _completions(recorder)
    assert bool(call.get("echo")) == echo_lists and cg.client.echo_lists is (True if echo_lists else False)
    if echo_lists:  # 4 paths hold more consulted nodes than 4 prompts would
        assert len(call["prompt"]) <= 4 < len(tree.clouds) and () in tree.clouds
    else:
        assert len(call["prompt"]) == len(tree.clouds) == 6 and () in tree.clouds
    own = {path: s.outbound(out + list(path), cg.pseud.fork()) for path in tree.clouds}
    assert set(call["prompt"]) <= set(own.values()) and all(path in tree.clouds for path in tree.nodes)
    for path, top in tree.clouds.items():  # a node's row is what a per-token call on its text returns
        assert path in tree and path[:-1] in tree
        want = s.tokens.to_ids(cg.client.top_logprobs(own[path], 5, "test"))
        assert top.keys() == want.keys() and all(abs(top[t] - want[t]) < 1e-3 for t in want)
    assert leaks([b for _, b in recorder.received], ["anna.berg@example.org"]) == []


def test_a_gate_lets_the_cloud_write_the_steps_it_consults():
    """FS-GEN: where the small model is unsure, the large one picks; a schedule fuses evenly."""
    from cloud_bridge.fusion import fuse

    assert CollabOptions(policy=Gate()).cloud_weight == 1.0
    assert CollabOptions(policy=Schedule()).cloud_weight == CollabOptions(policy=Always()).cloud_weight == 0.5
    assert CollabOptions(policy=Gate(), weight=0.3).cloud_weight == 0.3
    local, cloud = {1: -0.1, 2: -2.5}, {2: -0.2, 3: -1.9}
    fused = fuse(local, cloud, CollabOptions(policy=Gate()).cloud_weight)
    assert max(fused, key=fused.get) == 2
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidRequestError, match="fusion weight"):
            CollabOptions(weight=bad)


def test_a_listed_call_lists_about_as_many_steps_as_runs_keep(cloud, default_engine):
    from cloud_bridge.logit_mode import MAX_LISTED

    _, url = cloud
    s, _ = _logit_session(default_engine, url)
    assert s._listed_size() == MAX_LISTED  # nothing walked yet: as many as a call takes
    s._kept = [6, 6]  # runs keep one token each: list three steps, not sixteen whole prompts
    assert s._listed_size() == 3
    s._kept = [90, 3]
    assert s._listed_size() == MAX_LISTED


def _guarded_session(engine, url: str):
    """A session whose conversation has mapped the private name "Bauer": "Bauerton" holds it but is
    no name the mapping knows, so the leak guard refuses any prompt with it."""
    s, cg = _logit_session(engine, url, known={"names": ["Bauer"]})
    out = engine.encode(" Dear Bauer,")
    assert s.outbound(out) is not None and "Bauer" in cg.pseud.private_values()
    return s, cg, out


def test_a_batched_call_leaves_out_the_steps_the_leak_guard_refuses(cloud, default_engine):
    """A drafted run that reaches "Bauerton": its later steps are left out of the call (the walk asks them
    per token and fails there, as per-token fusion would), where refusing the whole call ended the
    cloud's part at steps per-token fusion still fused (bench/collab.py: 11 of 12 answers equal)."""
    recorder, url = cloud
    s, cg, out = _guarded_session(default_engine, url)
    chosen = default_engine.encode(" the Bauerton office is open")
    texts = [s.outbound(out + chosen[:i], cg.pseud.fork()) for i in range(len(chosen))]  # None: a name's start
    refused = [i for i, text in enumerate(texts) if text is not None and s.refused(text)]
    assert refused and refused[0] > 1 and refused == list(range(refused[0], len(chosen)))
    recorder.received.clear()
    found = s.score_run(out, chosen, list(range(len(chosen))))
    assert s.res.cloud_error is None and found and set(found) <= set(range(refused[0]))
    assert len(_completions(recorder)) == 1
    # a run whose first consulted step is refused sends nothing: the walk fails there first
    recorder.received.clear()
    head = out + chosen[:refused[0]]
    assert s.score_run(head, chosen[refused[0]:], [0, 1]) == {} and _completions(recorder) == []
    assert s.res.cloud_error is None
    assert leaks([b for _, b in recorder.received], ["Bauer"]) == []


def test_a_tree_leaves_out_the_nodes_the_leak_guard_refuses(cloud, default_engine, monkeypatch):
    """Nodes whose prompts the guard refuses get no row and are not sent; a tree whose root is refused
    sends nothing (the root's per-token call fails in the walk, as per-token fusion's does)."""
    from cloud_bridge.tree import tree_run

    recorder, url = cloud
    s, cg, out = _guarded_session(default_engine, url)
    s.opts = CollabOptions(policy=Always(), top_k=5, temperature=0.0, batch=4)
    recorder.received.clear()
    root = default_engine.encode(" the Bauerton")
    tree = tree_run(s, out + root, 4)
    assert tree is not None and tree.clouds == {} and _completions(recorder) == [] and s.res.cloud_error is None
    # below a root that may be sent: refuse every node two or more steps down (the guard's verdict, stubbed)
    base = len(s.outbound(out, cg.pseud.fork()))
    deep = {}

    def refused(text: str) -> bool:
        deep[text] = len(default_engine.encode(text[base:])) >= 2
        return deep[text]

    monkeypatch.setattr(s, "refused", refused)
    tree = tree_run(s, out, 4)
    assert tree is not None and s.res.cloud_error is None and () in tree.clouds
    sent = {p for call in _completions(recorder) for p in call["prompt"]}
    assert sent and not sent & {t for t, r in deep.items() if r}
    rows = {path for path, top in tree.clouds.items() if top is not None}
    assert () in rows and len(rows) > 1  # the root and its children were scored
    for path in tree.nodes:  # the walk stops before a refused node: it is no node of the tree
        text = s.outbound(out + list(path), cg.pseud.fork())
        assert text is None or not deep.get(text, False)
