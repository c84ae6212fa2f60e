"""playground.sampling: strategy validation, the batched loop against generate, filters, beam tree, statistics.

Fast tests use a tiny random LLaMA saved to a temporary folder (with the SmolLM2 tokenizer); the reference
tests marked `slow` run the embedded smollm2-135m-instruct.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from playground import sampling as S
from playground.models import load_model, load_tokenizer
from playground.sampling import Strategy, parse_strategies, parse_strategy
from tests.sampling_fixtures import EMBEDDED, tiny, tiny_lm  # noqa: F401  (fixtures)



# --------------------------------------------------------------------------------------------- a tiny model


def prompt_ids(lm, text="The cat sat on"):
    return S.build_prompt(lm.tokenizer, text, False, lm.context_window, 8).token_ids


def generate_new(lm, ids, **kwargs):
    tensor = torch.tensor([list(ids)])
    out = lm.model.generate(tensor, attention_mask=torch.ones_like(tensor), pad_token_id=2, **kwargs)
    return out[0, len(ids):].tolist()


# --------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("spec, message", [
    ({"name": "top_k", "k": 0}, "k must be at least 1"),
    ({"name": "top_k", "k": 2.5}, "whole number"),
    ({"name": "top_p", "p": 0}, r"p must be in \(0, 1\]"),
    ({"name": "top_p", "p": 1.5}, r"p must be in \(0, 1\]"),
    ({"name": "temperature", "temperature": 0}, "use {\"name\": \"greedy\"}"),
    ({"name": "top_k", "k": 5, "temperature": -1}, "temperature must be above 0"),
    ({"name": "top_p", "temperature": "hot"}, "temperature must be a number"),
    ({"name": "typical", "mass": 1.0}, "strictly between 0 and 1"),
    ({"name": "min_p", "min_p": 0}, r"min_p must be in \(0, 1\]"),
    ({"name": "beam", "num_beams": 0}, "num_beams must be between 1"),
    ({"name": "beam", "num_beams": S.MAX_BEAMS + 1}, "more beams need more memory"),
    ({"name": "sampling-magic"}, "unknown strategy name 'sampling-magic'"),
    ({"name": "top_k", "p": 0.9}, r"unknown parameter\(s\) p; expected k, temperature"),
    ("nonsense", "unknown strategy name"),
    (42, "must be a dict"),
])
def test_bad_strategies_are_refused_with_a_clear_message(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_strategy(spec)


def test_strategy_lists_are_checked():
    with pytest.raises(ValueError, match="strategies is empty"):
        parse_strategies([])
    with pytest.raises(ValueError, match=f"at most {S.MAX_STRATEGIES}"):
        parse_strategies([{"name": "greedy"}] * (S.MAX_STRATEGIES + 1))
    with pytest.raises(ValueError, match="strategy 2"):
        parse_strategies([{"name": "greedy"}, {"name": "top_k", "k": -3}])


def test_strategies_parse_with_defaults_and_aliases():
    greedy, nucleus, min_p, typical, beam = parse_strategies(
        ["greedy", {"name": "nucleus", "p": 0.5}, {"name": "min_p", "p": 0.2}, {"name": "typical"},
         {"name": "Beam", "num_beams": "3"}])
    assert greedy == Strategy("greedy") and not greedy.samples
    assert nucleus == Strategy("top_p", temperature=1.0, p=0.5)
    assert min_p.min_p == 0.2 and typical.mass == 0.9 and beam.num_beams == 3
    assert nucleus.to_dict() == {"name": "top_p", "p": 0.5, "temperature": 1.0}
    assert parse_strategy(nucleus.to_dict()) == nucleus
    assert beam.label() == "beam ×3" and nucleus.label() == "top_p (T=1, p=0.5)"


def test_warpers_come_in_the_documented_order():
    names = [name for name, _ in S.build_warpers(parse_strategy({"name": "top_p", "p": 0.9, "k": 20}))]
    assert names == ["temperature", "top-k", "top-p"]
    assert S.build_warpers(Strategy("greedy")) == []


def test_prompts_are_checked(tiny_lm):
    tok = tiny_lm.tokenizer
    with pytest.raises(ValueError, match="prompt is empty"):
        S.build_prompt(tok, "   ", False, 96, 8)
    with pytest.raises(ValueError, match="beyond the model's context window of 96"):
        S.build_prompt(tok, "word " * 90, False, 96, 8)
    chat = S.build_prompt(tok, "Hi", True, 4096, 8)
    assert chat.chat and "<|im_start|>user\nHi<|im_end|>" in chat.text and chat.text.endswith("assistant\n")
    assert list(chat.token_ids) == tok(chat.text, add_special_tokens=False)["input_ids"]


def test_a_base_model_without_chat_template_says_so(tiny_lm):
    class NoTemplate:
        chat_template = None

        def __call__(self, text, **kwargs):
            return tiny_lm.tokenizer(text, **kwargs)

        def decode(self, ids):
            return tiny_lm.tokenizer.decode(ids)

    prompt = S.build_prompt(NoTemplate(), "Hi there", True, 4096, 8)
    assert not prompt.chat and "no chat template" in prompt.note and prompt.text == "Hi there"


def test_sizes_beyond_memory_or_limits_are_refused(tiny_lm, monkeypatch):
    config = tiny_lm.model.config
    with pytest.raises(ValueError, match="max_new_tokens must be between 1"):
        S.check_sizes(config, [Strategy("greedy")], 5, S.MAX_NEW_TOKENS + 1)
    monkeypatch.setenv("PLAYGROUND_SAMPLING_MEMORY_MB", "1")
    with pytest.raises(ValueError, match="GiB budget: lower max_new_tokens"):
        S.check_sizes(config, [Strategy("top_k", k=5)], 5, 64, samples=50)
    with pytest.raises(ValueError, match="GiB budget"):
        S.check_sizes(config, [Strategy("beam", num_beams=16)], 5, 64)


def test_compare_refuses_bad_sizes_before_loading(tiny):
    with pytest.raises(ValueError, match="max_new_tokens must be between 1"):
        S.compare(tiny, "hi", [{"name": "greedy"}], max_new_tokens=0)
    with pytest.raises(ValueError, match="seed must be a non-negative"):
        S.compare(tiny, "hi", [{"name": "greedy"}], max_new_tokens=4, seed=-1)


# --------------------------------------------------------------------------------------------- the loop on the tiny model


def run_rows(lm, ids, strategies, steps, seed=0, samples=1):
    tokens = [[] for _ in S.rows_for(strategies, seed, samples)]
    for batch in S.sample_steps(lm, ids, strategies, steps, seed, samples=samples):
        for r, token in enumerate(batch.token_ids.tolist()):
            if token >= 0:
                tokens[r].append(token)
    return tokens


def test_greedy_and_top_k_1_equal_generate(tiny_lm):
    ids = prompt_ids(tiny_lm)
    reference = generate_new(tiny_lm, ids, do_sample=False, max_new_tokens=12)
    greedy, top1, _ = run_rows(tiny_lm, ids, [Strategy("greedy"), Strategy("top_k", k=1, temperature=0.7),
                                              Strategy("top_p", p=0.9)], 12)
    assert greedy == reference
    assert top1 == reference


def test_same_seed_same_sample_and_rows_do_not_depend_on_neighbours(tiny_lm):
    ids = prompt_ids(tiny_lm)
    nucleus = Strategy("top_p", p=0.95, temperature=1.3)
    alone = run_rows(tiny_lm, ids, [nucleus], 12, seed=7)[0]
    again = run_rows(tiny_lm, ids, [nucleus], 12, seed=7)[0]
    crowded = run_rows(tiny_lm, ids, [Strategy("top_k", k=3), Strategy("greedy"), nucleus,
                                      Strategy("typical", mass=0.5)], 12, seed=7)
    assert alone == again == crowded[2]
    other_seed = run_rows(tiny_lm, ids, [nucleus], 12, seed=8)[0]
    assert other_seed != alone   # the seed matters (12 draws from a wide nucleus)


def test_samples_of_a_strategy_use_seed_plus_index(tiny_lm):
    ids = prompt_ids(tiny_lm)
    strategy = Strategy("temperature", temperature=1.5)
    batch = run_rows(tiny_lm, ids, [strategy], 6, seed=3, samples=4)
    assert batch[2] == run_rows(tiny_lm, ids, [strategy], 6, seed=5)[0]
    assert len({tuple(row) for row in batch}) > 1


def test_every_stage_is_recorded_in_order(tiny_lm):
    ids = prompt_ids(tiny_lm)
    strategy = parse_strategy({"name": "top_p", "p": 0.5, "k": 8, "temperature": 2.0})
    batch = next(S.sample_steps(tiny_lm, ids, [strategy], 1, 0))
    step = batch.steps[0]
    vocab = tiny_lm.model.config.vocab_size
    assert [s.name for s in step.stages] == ["model", "temperature", "top-k", "top-p"]
    model, temperature, top_k, top_p = step.stages
    assert model.kept == temperature.kept == vocab and model.removed == 0
    assert top_k.kept == 8 and top_k.removed == vocab - 8
    assert top_p.kept + top_p.removed == 8 and top_p.kept >= 1
    assert list(top_k.token_ids[:8]) == list(model.token_ids[:8])   # top-k keeps the model's order
    assert temperature.probs[0] < model.probs[0]                   # T=2 flattens
    assert math.isclose(float(top_k.probs.sum()), 1.0, abs_tol=1e-4)
    assert step.token_id in top_p.token_ids[: top_p.kept]
    assert len(top_p.token_ids) == min(S.TOP_CANDIDATES, top_p.kept) and (top_p.probs > 0).all()
    assert top_k.texts[0] == tiny_lm.tokenizer.decode([int(top_k.token_ids[0])])
    probs = model_probs(tiny_lm, ids)
    # the removed tokens the model liked best are named: ranks 9 to 18
    assert list(top_k.removed_ids) == probs.topk(18).indices[8:].tolist()
    assert np.allclose(top_k.removed_probs, probs.topk(18).values[8:].numpy(), atol=1e-6)
    assert set(top_p.removed_ids) == set(top_k.token_ids[top_p.kept:8])
    assert math.isclose(step.logprob, math.log(float(probs[step.token_id])), abs_tol=1e-4)
    assert math.isclose(step.entropy, float(torch.special.entr(probs).sum()), rel_tol=1e-4)


# --------------------------------------------------------------------------------------------- statistics of the filters


def first_draws(lm, ids, strategy, n=400, seed=0):
    batch = next(S.sample_steps(lm, ids, [strategy], 1, seed, samples=n, record=False))
    return batch.token_ids


def model_probs(lm, ids):
    with torch.no_grad():
        return torch.softmax(lm.model(torch.tensor([list(ids)])).logits[0, -1].float(), -1)


def test_top_k_never_picks_outside_the_k_most_likely(tiny_lm):
    ids = prompt_ids(tiny_lm, "Once upon a time")
    probs = model_probs(tiny_lm, ids)
    draws = first_draws(tiny_lm, ids, Strategy("top_k", k=4, temperature=1.0))
    top4 = set(probs.topk(4).indices.tolist())
    assert set(draws.tolist()) <= top4
    assert len(set(draws.tolist())) >= 2      # it does sample, not just argmax
    # The most likely token is drawn about as often as its renormalised probability says (4 sigma).
    p = float(probs.topk(4).values[0] / probs.topk(4).values.sum())
    frequency = float(np.mean(draws == probs.argmax().item()))
    assert abs(frequency - p) < 4 * math.sqrt(p * (1 - p) / len(draws)) + 1e-9


def test_top_p_never_picks_outside_the_nucleus(tiny_lm):
    ids = prompt_ids(tiny_lm, "Once upon a time")
    probs = model_probs(tiny_lm, ids)
    values, order = probs.sort(descending=True)
    size = int((values.cumsum(0) < 0.6).sum()) + 1       # the smallest set reaching 0.6
    nucleus = set(order[:size].tolist())
    draws = first_draws(tiny_lm, ids, Strategy("top_p", p=0.6))
    assert set(draws.tolist()) <= nucleus
    assert size >= 2 and len(set(draws.tolist())) >= 2


def test_min_p_never_picks_below_its_threshold(tiny_lm):
    ids = prompt_ids(tiny_lm, "Once upon a time")
    probs = model_probs(tiny_lm, ids)
    draws = first_draws(tiny_lm, ids, Strategy("min_p", min_p=0.2), n=200)
    assert all(float(probs[t]) >= 0.2 * float(probs.max()) - 1e-6 for t in draws.tolist())


# --------------------------------------------------------------------------------------------- beam search


def test_beam_equals_generate_and_its_tree_is_consistent(tiny_lm):
    ids = prompt_ids(tiny_lm)
    result = S.beam_search(tiny_lm, ids, 3, 10)
    assert list(result.token_ids) == generate_new(tiny_lm, ids, do_sample=False, num_beams=3, max_new_tokens=10)
    tree = result.beam_tree
    by_step = {}
    for node in tree.nodes:
        by_step.setdefault(node.step, []).append(node)
    for step, nodes in by_step.items():
        assert len(nodes) <= 2 * 3 * 2          # at most (1 + end tokens) x 2n candidates are considered
        if step < len(result.token_ids) - 1:
            assert sum(n.status == "kept" for n in nodes) == 3
        assert {n.status for n in nodes} <= {"kept", "finished", "pruned"}
        assert any(n.status == "pruned" for n in nodes)
    path = [n for n in tree.nodes if n.on_output]
    assert [n.token_id for n in sorted(path, key=lambda n: n.step)] == list(result.token_ids)
    for node in tree.nodes:
        if node.parent >= 0:
            parent = tree.nodes[node.parent]
            assert parent.status == "kept" and parent.step == node.step - 1
            assert math.isclose(node.score, parent.score + node.logprob, abs_tol=1e-4)
    assert all(math.isclose(s.logprob, n.logprob, abs_tol=1e-5) for s, n in zip(result.steps, sorted(path, key=lambda n: n.step)))


def test_beam_search_stops_when_asked_and_reports_its_steps_from_a_thread(tiny_lm):
    import threading

    ids = prompt_ids(tiny_lm)
    stop = threading.Event()
    stop.set()
    assert len(S.beam_search(tiny_lm, ids, 3, 12, stop=stop).token_ids) == 1     # ends after its first step
    updates = list(S.beam_search_steps(tiny_lm, ids, 3, 12, poll=0.001))
    assert updates[-1].token_ids == S.beam_search(tiny_lm, ids, 3, 12).token_ids
    assert all(isinstance(u, int) and 0 <= u <= 12 for u in updates[:-1])
    assert updates[:-1] == sorted(updates[:-1])
    steps = S.beam_search_steps(tiny_lm, ids, 3, 90, poll=0.001)
    if isinstance(next(steps), int):                  # still searching: closing the generator ends the search
        steps.close()
        for _ in range(100):
            if not any(t.name == "beam-search" and t.is_alive() for t in threading.enumerate()):
                break
            threading.Event().wait(0.1)
        assert not any(t.name == "beam-search" and t.is_alive() for t in threading.enumerate())


def test_compare_keeps_order_and_runs_beam_after_the_loop(tiny):
    strategies = [{"name": "beam", "num_beams": 2}, {"name": "greedy"}, {"name": "top_k", "k": 5}]
    snapshots = list(S.stream_comparison(tiny, "The cat", strategies, max_new_tokens=6, seed=1, chat=False))
    assert snapshots[-1].done and not any(s.done for s in snapshots[:-1])
    assert len(snapshots) >= 6                    # tokens stream: one snapshot per step, then the beam
    first = snapshots[0].results
    assert first[0].ended_by == "waiting" and len(first[1].token_ids) == 1     # the beam waits for the loop
    searching = [snap.results[0] for snap in snapshots if snap.results[0].ended_by == "running"]
    assert searching and all(r.token_ids == () for r in searching)             # then says it is searching
    final = snapshots[-1].to_dict()
    assert [r["strategy"]["name"] for r in final["results"]] == ["beam", "greedy", "top_k"]
    for r in final["results"]:
        assert len(r["token_ids"]) == len(r["token_logprobs"]) == len(r["steps"]) and r["text"] is not None
    assert "beam_tree" in final["results"][0]


# --------------------------------------------------------------------------------------------- many samples


def test_diversity_measures_on_hand_made_samples():
    assert S.diversity([[1, 2, 1, 2], [1, 2, 3]]) == (3 / 7, 3 / 5, 1 / 5)
    assert S.diversity([[5, 5, 5, 5]]) == (0.25, 1 / 3, 2 / 3)
    assert S.diversity([]) == (0.0, 0.0, 0.0)


def test_many_samples_measure_each_strategy(tiny):
    stats = S.many_samples(tiny, "The cat", [{"name": "greedy"}, {"name": "temperature", "temperature": 1.5},
                                             {"name": "top_k", "k": 1}], n=6, max_new_tokens=5, seed=0, chat=False)
    greedy, hot, top1 = stats
    assert len(greedy.samples) == 1 and "deterministic" in greedy.note
    assert len(hot.samples) == 6 and hot.distinct_1 > top1.distinct_1
    assert len(set(top1.samples)) == 1 and top1.samples[0] == greedy.samples[0]
    assert sum(c for _, c in hot.first_tokens) == 6
    assert math.isclose(hot.perplexity, math.exp(-hot.mean_logprob))
    assert hot.mean_logprob < top1.mean_logprob


def test_token_pieces_join_to_the_decoded_text():
    for name in (EMBEDDED, "gemma-3-270m"):
        tok = load_tokenizer(name).tokenizer
        ids = tok("Hi 👋 the café 東京 <b>", add_special_tokens=False)["input_ids"]
        pieces = S.TokenPieces(tok).extend(ids).pieces
        assert "".join(pieces) == tok.decode(ids) and "\ufffd" not in "".join(pieces)
        assert len(pieces) == len(ids)


# --------------------------------------------------------------------------------------------- the embedded model


@pytest.fixture(scope="module")
def smollm():
    return load_model(EMBEDDED)


@pytest.mark.slow
def test_reference_on_the_embedded_model(smollm):
    prompt = "Name a fruit."
    strategies = [{"name": "greedy"}, {"name": "top_k", "k": 1}, {"name": "top_p", "p": 0.9, "temperature": 1.0},
                  {"name": "beam", "num_beams": 3}]
    run = S.compare(EMBEDDED, prompt, strategies, max_new_tokens=12, seed=11, chat=True)
    ids = run.prompt.token_ids
    greedy = generate_new(smollm, ids, do_sample=False, max_new_tokens=12)
    assert list(run.results[0].token_ids) == greedy
    assert list(run.results[1].token_ids) == greedy
    assert list(run.results[3].token_ids) == generate_new(smollm, ids, do_sample=False, num_beams=3,
                                                          max_new_tokens=12)
    alone = S.compare(EMBEDDED, prompt, [strategies[2]], max_new_tokens=12, seed=11, chat=True)
    assert alone.results[0].token_ids == run.results[2].token_ids
    assert run.results[0].text == smollm.tokenizer.decode(greedy, skip_special_tokens=True)


def test_the_loop_survives_being_resumed_on_other_threads(tiny_lm):
    """Gradio advances a streaming generator from whichever worker thread is free, and grad mode is
    per thread: every step must still run without autograd and give the same tokens."""
    import threading

    strategies = parse_strategies([{"name": "greedy"}, {"name": "top_k", "k": 5}])
    ids = tiny_lm.tokenizer("Once upon a time")["input_ids"]
    alone = [step.token_ids.tolist() for step in S.sample_steps(tiny_lm, ids, strategies, 6, seed=3, stop_at_end=False)]
    steps = S.sample_steps(tiny_lm, ids, strategies, 6, seed=3, stop_at_end=False)
    hopped: list = []
    for _ in range(6):  # a new thread for every step
        worker = threading.Thread(target=lambda: hopped.append(next(steps).token_ids.tolist()))
        worker.start()
        worker.join()
    assert hopped == alone
