"""The Generative families tab without a browser: its inputs, handlers, API, messages and figures."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from playground.families import FAMILIES, SETTINGS, Run, make_dataset
from tabs import families as tab
from tabs import families_compare
from tabs.families_figures import charts, compare_figure, look_of, picture

DEFAULTS = [None] * len(tab.SETTING_KEYS)


def _args(family="autoregressive", dataset="ring8", points="", steps=40, seed=0, speed="normal", settings=None,
          session=None, display=""):
    values = list(DEFAULTS)
    for index, (owner, setting) in enumerate(tab.SETTING_KEYS):
        if owner == family and settings and setting.key in settings:
            values[index] = settings[setting.key]
    return (family, dataset, points, steps, seed, speed, *values, session, display)


def test_config_separates_training_settings_from_view_settings():
    config = tab.read_config(*_args("diffusion")[:-2])
    assert config.until == 40 and config.per_frame == 20
    assert set(config.train_settings) == {"lr"} and set(config.view_settings) == {"sampler", "sampling_steps", "field_t"}
    changed = tab.read_config(*_args("diffusion", settings={"sampling_steps": 10})[:-2])
    assert changed.key == config.key        # a view setting doesn't start training over
    retrained = tab.read_config(*_args("diffusion", settings={"lr": 0.01})[:-2])
    assert retrained.key != config.key


@pytest.mark.parametrize("change, message", [
    ({"family": "cat"}, "family 'cat' is unknown"),
    ({"dataset": "ring9"}, "dataset 'ring9' is unknown"),
    ({"steps": 10**9}, "steps = 1,000,000,000 is above the largest allowed, 20,000"),
    ({"seed": -1}, "seed = -1 is out of range"),
    ({"speed": "warp"}, "speed 'warp' is unknown"),
    ({"settings": {"lr": float("nan")}}, r"settings\['lr'\] = nan is not a finite number"),
])
def test_bad_inputs_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        tab.read_config(*_args(**change)[:-2])


def test_play_streams_frames_up_to_the_steps_then_says_it_is_done():
    outputs = list(tab.play_handler(*_args(steps=40)))
    assert len(outputs) == 2                                  # 20 steps a frame
    assert isinstance(outputs[0][1], type(gr.skip())) and outputs[0][-1] == outputs[0][1]   # charts once a burst
    picture_figure, charts_figure, status, session, more = outputs[-1]
    assert "step 40 of 40" in status and "Done." in status and "modes covered" in status and more == "done"
    assert session["run"].step == 40
    again = list(tab.play_handler(*_args(steps=40, session=session)))
    assert len(again) == 1 and "Already trained 40 steps" in again[0][2]
    more = list(tab.play_handler(*_args(steps=60, session=session)))
    assert session["run"].step == 60 and len(more) == 1     # the same run goes on


def test_a_burst_ends_after_a_while_and_asks_for_more(monkeypatch):
    monkeypatch.setattr(tab, "BURST_SECONDS", 0.0)
    outputs = list(tab.play_handler(*_args(steps=100)))
    assert len(outputs) == 1 and outputs[0][-1] == "more 20" and "step 20 of 100" in outputs[0][2]
    following = list(tab.play_handler(*_args(steps=100, session=outputs[0][3])))
    assert following[-1][-1] == "more 40"                      # the next burst goes on from there


def test_step_reset_and_a_view_setting_change():
    _, _, status, session = tab.step_handler(5, *_args())
    assert "step 5 of 40" in status
    tab.step_handler(3, *_args(session=session))
    assert session["run"].step == 8
    before = session["run"].step
    _, _, status, same = tab.redraw_handler(*_args(settings={"temperature": 0.3}, session=session))
    assert same["run"].step == before and "step 8" in status
    _, _, status, fresh = tab.reset_handler(*_args(session=session))
    assert fresh["run"].step == 0 and "Reset" in status
    with pytest.raises(gr.Error, match="steps per Step = 0"):
        tab.step_handler(0, *_args())
    # a change of a training setting: the next Step starts over
    _, _, _, other = tab.step_handler(1, *_args(settings={"bins": 60}, session=session))
    assert other is not session and other["run"].step == 1


def test_vae_resample_and_decode_a_latent_point():
    _, _, _, session = tab.step_handler(3, *_args("vae"))
    seed = session["epsilon_seed"]
    tab.resample_handler(*_args("vae", session=session))
    assert session["epsilon_seed"] == seed + 1
    figure, _, _, session = tab.decode_handler("0.5, -1", *_args("vae", session=session))
    assert session["probe"] == [0.5, -1.0]
    assert any(trace.name == "decoder(your z)" for trace in figure.data)
    with pytest.raises(gr.Error, match="latent point 'half' must be two numbers"):
        tab.decode_handler("half", *_args("vae", session=session))


def test_drawn_points_train_and_bad_drawings_are_refused():
    heart = "\n".join(f"{np.cos(a):.2f},{np.sin(a):.2f}" for a in np.linspace(0, 6, 12))
    _, _, status, session = tab.step_handler(2, *_args(dataset="drawn", points=heart))
    assert session["run"].data.name == "drawn" and "Your points: 12 points" in status
    with pytest.raises(gr.Error, match="points: 1 given; draw or paste at least 3"):
        tab.step_handler(1, *_args(dataset="drawn", points="0.5,0.5"))
    with pytest.raises(gr.Error, match="points: 0 given"):
        tab.step_handler(1, *_args(dataset="drawn", points=""))
    with pytest.raises(gr.Error, match="not a finite number"):
        tab.step_handler(1, *_args(dataset="drawn", points="0,0\n1,nan\n2,2"))
    with pytest.raises(gr.Error, match="at most 10,000"):
        tab.step_handler(1, *_args(dataset="drawn", points="0.1,0.2\n" * 1_000_000))


def test_the_api_returns_what_the_issue_names():
    result = tab.train_family_api("autoregressive", "ring8", 30, 0, {})
    assert {"family", "dataset", "steps", "samples", "losses", "metrics"} <= set(result)
    assert len(result["samples"]) == 1000 and len(result["samples"][0]) == 2
    assert result["losses"][0]["step"] == 10 and set(result["losses"][0]) == {"step", "NLL of x", "NLL of y given x"}
    metrics = result["metrics"]
    assert {"modes_covered", "num_modes", "energy_distance", "log_likelihood", "train_seconds",
            "sample_seconds_per_1000"} <= set(metrics)
    assert metrics["num_modes"] == 8 and metrics["likelihood_kind"] == "exact"
    gan = tab.train_family_api("gan", "0,0\n1,1\n2,0\n", 10, 1, {"preset": "mode_collapse"})
    assert gan["metrics"]["log_likelihood"] is None and gan["metrics"]["modes_covered"] is None
    assert gan["settings"]["lr_d"] == 1e-4 and gan["dataset"] == "drawn"


@pytest.mark.parametrize("args, message", [
    (("transformer", "ring8", 0, 0, {}), "family 'transformer' is unknown: choose one of gan, vae, flow"),
    (("gan", "ring9", 0, 0, {}), "dataset 'ring9' is unknown"),
    (("gan", "ring8", 10**9, 0, {}), "steps = 1,000,000,000 is above the largest allowed"),
    (("gan", "ring8", 2.5, 0, {}), "steps = 2.5 must be a whole number"),
    (("gan", "ring8", 0, 0, {"lr_g": "fast"}), r"settings\['lr_g'\] = 'fast' must be a number"),
    (("gan", "ring8", 0, 0, {"layers": 3}), r"settings\['layers'\] is not a control of the gan family"),
    (("gan", "ring8", 0, 0, "lr=1"), "settings must be a dict"),
    (("gan", "ring8", 0, 0, {"preset": "chaos"}), r"settings\['preset'\] = 'chaos' is unknown"),
    (("flow", "0.5,0.5", 0, 0, {}), "points: 1 given"),
    (("flow", "0,0\nnan,1\n1,1", 0, 0, {}), "line 2"),
])
def test_api_bad_input_messages_name_the_input(args, message):
    with pytest.raises(gr.Error, match=message):
        tab.train_family_api(*args)


def test_side_by_side_fills_a_row_per_family_then_the_baselines():
    *_, (table, figure) = list(families_compare.compare_handler("ring8", "", 20, 0, ""))
    for title in ("GAN", "VAE", "Normalizing flow", "Diffusion", "Autoregressive", "a plain Gaussian",
                  "the data itself"):
        assert title in table
    assert "none (a GAN has no density)" in table and "(exact)" in table and "a lower bound" in table
    assert len(figure.data) == 2 * 6          # the Gaussian and five families, each over the data


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_picture_and_the_dark_theme(family):
    run = Run(family, make_dataset("ring8"), {}, seed=0)
    run.advance(20)
    frame = run.frame()
    light, dark = picture(frame, look_of("")), picture(frame, look_of("projector dark"))
    assert dark.layout.font.color != light.layout.font.color
    names = {trace.name for trace in light.data}
    assert "real data" in names
    figure = charts(frame, look_of(""), run.baseline_energy, 8)
    assert [trace.name for trace in figure.data][:len(frame.losses.names)] == list(frame.losses.names)
    # the energy distance's log axis labels every tick in full (Plotly's default: "5" and "2" for 0.5 and 0.2)
    assert figure.layout.yaxis2.type == "log" and figure.layout.yaxis2.tickformat == "~g"


def test_figures_say_what_each_family_shows():
    frames = {}
    for family in FAMILIES:
        run = Run(family, make_dataset("ring8"), {}, seed=0)
        run.advance(10)
        frames[family] = run.frame({"probe": [0.5, 0.5]} if family == "vae" else None)
    names = {family: {trace.name for trace in picture(frame, look_of("")).data} for family, frame in frames.items()}
    assert {"discriminator", "generated", "G's image of a noise grid"} <= names["gan"]
    assert any("generator's gradient" in name for name in names["gan"])
    assert {"latent-click", "your z", "decoder(your z)"} <= names["vae"]
    assert "log p(x)" in names["flow"] and "the base grid" in names["flow"]
    assert {"samples x_0", "start x_T ~ N(0, I)"} <= names["diffusion"]
    assert {"p(x)", "p(y | x)", "1. x drawn from p(x)"} <= names["autoregressive"]
    assert len(compare_figure([("a", frames["gan"].samples)], frames["gan"].data, look_of("")).data) == 2


def test_copy_as_python_calls_the_api_with_the_page_settings():
    values = {key: None for key in ("family", "dataset", "points", "steps", "seed")}
    values.update(family="flow", dataset="ring8", points="", steps=500, seed=3)
    for family in FAMILIES:
        for setting in SETTINGS[family]:
            values[tab.link_key(family, setting.key)] = setting.default
    lines = tab.python_lines(values)
    code = "\n".join(lines)
    compile(code, "snippet", "exec")
    assert "client.predict('flow', 'ring8', 500, 3, settings" in code and 'api_name="/train_family"' in code
    assert "'coupling': 'spline'" in code and "lr_g" not in code
    values.update(dataset="drawn", points="0,0\n1,1\n2,2")
    assert "'0,0\\n1,1\\n2,2'" in "\n".join(tab.python_lines(values))
