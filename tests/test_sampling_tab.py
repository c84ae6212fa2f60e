"""tabs.sampling and tabs.sampling_views: strategy controls to API dicts, HTML and figures from hand-made
results, the handlers, the generate API."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from playground.sampling import (STRATEGY_NAMES, BeamNode, BeamTree, Comparison, Prompt, Stage, StrategyResult,
                                 TokenStep, parse_strategies, diversity, SampleStats)
from tabs import sampling as tab
from tabs import sampling_views as views
from tests.sampling_fixtures import tiny  # noqa: F401  (fixture)

XSS = "<img src=x onerror=alert(1)>"


NAMES = {7: XSS, 8: "b", 9: "c"}


def stage(name, ids, probs, kept, removed=0, removed_ids=()):
    return Stage(name, np.array(ids), np.array(probs, dtype=np.float32), kept, removed,
                 np.array(removed_ids, dtype=np.int64), np.zeros(len(removed_ids), dtype=np.float32),
                 tuple(NAMES[i] for i in ids), tuple(NAMES[i] for i in removed_ids))


def hand_made(done=True) -> Comparison:
    top_k, greedy = parse_strategies([{"name": "top_k", "k": 2}, {"name": "greedy"}])
    steps = (
        TokenStep(0, 7, np.log(0.5), np.log(0.6), 1.2,
                  (stage("model", [7, 8, 9], [0.5, 0.3, 0.2], 100),
                   stage("temperature", [7, 8, 9], [0.5, 0.3, 0.2], 100),
                   stage("top-k", [7, 8], [0.6, 0.4], 2, 98, [9]))),
        TokenStep(1, 8, np.log(0.9), np.log(0.95), 0.3, (stage("model", [8], [0.9], 100),)),
    )
    sampled = StrategyResult(top_k, (7, 8), (XSS, "\nb"), tuple(s.logprob for s in steps), (1.2, 0.3), steps,
                             XSS + "\nb", "length")
    tree = BeamTree(2, (BeamNode(0, -1, 0, 7, XSS, -0.5, -0.5, "kept", True),
                        BeamNode(1, -1, 0, 8, "b", -1.0, -1.0, "pruned", False),
                        BeamNode(2, 0, 1, 2, "</s>", -0.1, -0.6, "finished", True)))
    beam_strategy = parse_strategies([{"name": "beam", "num_beams": 2}])[0]
    beam = StrategyResult(beam_strategy, (7, 2), (XSS, "</s>"), (-0.5, -0.1), (1.0, 0.2), (), XSS, "end token", tree)
    return Comparison("tiny", Prompt(XSS, (1, 2), False, ""), 0, 2, (sampled, beam), done, 0.5)


def test_slots_become_api_strategies():
    assert tab.slots_to_strategies(["greedy", 1.0, 50, 0.9, 4], [tab.OFF, 1.0, 5, 0.5, 2],
                                   ["top_k", 0.7, 40.0, 0.9, 4], ["beam", 1, 50, 0.9, 3.0],
                                   ["min_p", 1.0, 50, 0.1, 3], ["typical", 1.0, 50, 0.8, 3]) == [
        {"name": "greedy"}, {"name": "top_k", "temperature": 0.7, "k": 40}, {"name": "beam", "num_beams": 3},
        {"name": "min_p", "temperature": 1.0, "min_p": 0.1}, {"name": "typical", "temperature": 1.0, "mass": 0.8}]
    # what the controls produce is what the API validates
    assert len(parse_strategies(tab.slots_to_strategies(*tab.SLOT_DEFAULTS))) == len(tab.SLOT_DEFAULTS)


def test_outputs_are_escaped_and_coloured_by_probability():
    html = views.render_outputs(hand_made())
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count('class="pg-tok"') == 4
    assert views.probability_colour(0.9) in html and "↵<br>b" in html
    assert "ended by length" in html and "ended by end token" in html and "nan" not in html
    assert "generating" in views.render_outputs(hand_made(done=False))
    assert "pg-tok" in html[html.index("near certain") - 120:html.index("near certain")]   # dark text in both themes


def test_step_view_shows_each_stage_and_the_removed_tokens():
    comparison = hand_made()
    html = views.render_step(comparison, 0, 0)
    assert XSS not in html and "&lt;img" in html
    assert "after top-k" in html and "98 removed" in html and "after temperature" in html
    assert html.count("removed</td>") == 1 and "◀ chosen" in html
    assert "step 1 of 1" in views.render_step(comparison, 0, 5)        # clamped to the last step
    assert "no steps yet" in views.render_step(comparison, 1, 0)
    assert "Generate first" in views.render_step(None, 0, 0)


def test_figures_and_beam_view_from_data():
    comparison = hand_made()
    entropy = views.entropy_figure(comparison)
    assert len(entropy.data) == 2 and list(entropy.data[0].y) == [1.2, 0.3]
    assert entropy.layout.font.size == views.PLOT_FONT
    view = views.beam_view(comparison)
    tree = view[view.index("pg-beam-tree"):]
    assert tree.count("pg-beam-chip pg-beam-") == 3 and tree.count("pg-beam-stub") == 1   # prompt, 2 chips, 1 stub
    assert XSS not in view and "&lt;img src=x onerror=alert(1)&gt;" in view and "&amp;lt;" not in view
    assert "returned 2 tokens" in view and "Choose beam" in views.beam_view(None)


def test_plot_labels_escape_markup_once_and_keep_quotes():
    assert views.plot_text('say "hi" <b>') == 'say "hi" &lt;b&gt;'
    figure = views.entropy_figure(hand_made())
    assert list(figure.data[0].text) == ["&lt;img src=x onerror=alert(1)&gt;", "\nb"]


def test_samples_panel_escapes_and_reports_measures():
    strategy = parse_strategies(["greedy"])[0]
    d1, d2, rep = diversity([[1, 2, 3]])
    stats = [SampleStats(strategy, ((1, 2, 3),), (XSS,), d1, d2, rep, -1.0, 2.718, ((XSS, 1),), "deterministic")]
    html = views.render_samples(stats)
    assert XSS not in html and "&lt;img" in html and "2.7" in html and "distinct-2" in html
    figure = views.first_token_figure(stats)
    assert XSS not in str(figure.data[0].x)


def test_generate_api_on_a_tiny_model(tiny):
    data = tab.generate("The cat", tiny, [{"name": "greedy"}, {"name": "top_p", "p": 0.8}], 4, 3, False)
    assert [r["strategy"]["name"] for r in data["results"]] == ["greedy", "top_p"]
    for result in data["results"]:
        assert len(result["token_ids"]) == len(result["token_logprobs"]) <= 4
        assert isinstance(result["text"], str)
    with pytest.raises(gr.Error, match="k must be at least 1"):
        tab.generate("The cat", tiny, [{"name": "top_k", "k": 0}], 4, 0, False)
    with pytest.raises(gr.Error, match="prompt is empty"):
        tab.generate("", tiny, [{"name": "greedy"}], 4, 0, False)


def test_streaming_handler_yields_tokens_then_the_final_views(tiny):
    slots = ["greedy", 1.0, 50, 0.9, 2, "beam", 1.0, 50, 0.9, 2, "top_k", 1.0, 5, 0.9, 2]
    updates = list(tab.run_stream("The cat", tiny, False, 3, 0, *slots, progress=lambda *a, **k: None))
    assert len(updates) >= 5 and updates[0][0] is None                    # the state is cleared first
    state, html, _, beam, _ = updates[1]
    assert isinstance(state, Comparison) and not state.done and 'class="pg-tok"' in html
    assert "waiting: beam search runs after the sampling rows" in html and "nan" not in html
    assert "runs after the sampling rows" in beam
    assert any("searching with 2 beams" in update[1] for update in updates[1:])
    final_state, _, _, beam_html, raw = updates[-1]
    assert final_state.done and raw == final_state.prompt.text
    assert "pg-beam-tree" in beam_html and "pg-beam-kept" in beam_html
    html, _, step_update, which_update, step_html = tab.finish_run(final_state)
    assert which_update["choices"][1] == ("2. beam ×2", 1) and "pg-samp-steptable" in step_html
    assert "stopped" not in html


def test_a_stopped_run_says_so_and_keeps_its_tokens():
    running = hand_made(done=False)
    greedy, beam = parse_strategies([{"name": "greedy"}, {"name": "beam", "num_beams": 3}])
    sampled = running.results[0]
    partial = StrategyResult(greedy, sampled.token_ids, sampled.tokens, sampled.token_logprobs, sampled.entropies,
                             sampled.steps, sampled.text, "running")
    waiting = StrategyResult(beam, (), (), (), (), (), "", "waiting")
    comparison = Comparison("tiny", running.prompt, 0, 40, (partial, waiting), False, 1.0)
    live = views.render_outputs(comparison)
    assert "2 tokens so far, generating" in live and "waiting: beam search runs after the sampling rows" in live
    stopped = views.render_outputs(comparison, stopped=True)
    assert "stopped after 2 tokens" in stopped and "stopped before beam search ran" in stopped
    assert "generating" not in stopped and "running" not in stopped and "nan" not in stopped
    assert stopped.count('class="pg-tok"') == 2                              # what was generated stays
    assert "stopped before beam search ran" in views.beam_view(comparison, stopped=True)
    html, beam_html, _, _, step_html = tab.finish_run(comparison)
    assert "stopped after 2 tokens" in html and "stopped" in beam_html and "pg-samp-steptable" in step_html
    assert "stopped" not in views.render_outputs(hand_made(done=True), stopped=True)   # a finished run is not "stopped"
    assert "stopped" not in tab.finish_run(hand_made(done=True))[0]
    assert tab.finish_run(None)[0] == gr.skip()                              # a failed run: nothing to show


@pytest.mark.parametrize("name", [tab.OFF, *STRATEGY_NAMES])
def test_a_column_shows_exactly_the_sliders_its_strategy_reads(name):
    base = [name, 1.0, 50, 0.5, 3]
    shown = [props["visible"] for props in tab.slot_props(name)]
    for position, visible in enumerate(shown, start=1):
        changed = list(base)
        changed[position] = {1: 0.7, 2: 7, 3: 0.25, 4: 5}[position]
        assert (tab.slot_to_strategy(*changed) != tab.slot_to_strategy(*base)) == visible, (name, position)
    info, *sliders = tab.slot_updates(name)
    assert info["info"] == tab.ABOUT[name] and [s["visible"] for s in sliders] == shown
    assert all("value" not in update for update in (info, *sliders))          # a lesson's values stay


def _luminance(css: str) -> float:
    """WCAG relative luminance of an rgb(...) colour."""
    channels = [int(v) / 255 for v in css[css.index("(") + 1:-1].split(",")]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_probability_colours_keep_their_order_in_grayscale_and_black_text_stays_readable():
    shades = [_luminance(views.probability_colour(p)) for p in np.linspace(0, 1, 21)]
    assert all(a < b for a, b in zip(shades, shades[1:]))
    assert min((s + 0.05) / 0.05 for s in shades) >= 4.5  # WCAG AA against black text
