"""The Generative families tab: GAN, VAE, flow, diffusion and autoregressive models trained live on the same 2D
data, side by side; and the latent space of images through tiny-shapes-sd's VAE.

The handlers adapt the inputs, call playground.families and format what comes back (Plotly figures from
tabs/families_figures.py, escaped HTML). Play streams frames from a generator; Pause cancels it; the model in
training lives in the browser session's gr.State, never shared between users. Its drawing pad, side by side and
latent space of images are modules of their own: tabs/families_pad.py, families_compare.py, families_latent.py.

    >>> config = read_config("gan", "ring8", "", 0, 0, "normal", *[None] * len(SETTING_KEYS))
    >>> config.family, config.until, config.train_settings["loss"], config.per_frame
    ('gan', 1000, 'non-saturating', 20)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import gradio as gr
import numpy as np

from playground.families import (DATASETS, DEFAULT_STEPS, DRAWN, FAMILIES, FAMILY_TITLES, MAX_STEPS, PRESETS,
                                 SETTINGS, Run, check_seed, check_settings, check_steps, make_dataset, parse_points,
                                 play, train_family)
from tabs import families_compare, families_latent, families_pad
from tabs.common import Controls, escape, heavy_events, friendly_errors
from tabs.families_figures import charts, look_of, picture

SPEEDS = {"slow motion": 1, "normal": 20, "fast": 100}      # training steps per frame
LIVE_CONCURRENCY = 16           # Play bursts and Steps running at once, across all users (each is short)
FRAME_SECONDS = 0.25            # at most four frames a second: a browser on a classroom laptop must draw each one
BURST_SECONDS = 1.5             # one Play event streams this long; the page asks for the next when it has drawn it
PREFIX = {"gan": "gan", "vae": "vae", "flow": "flow", "diffusion": "diffusion", "autoregressive": "ar"}
SETTING_KEYS = [(family, setting) for family in FAMILIES for setting in SETTINGS[family]]
DISPLAY_JS = """(...args) => {
  const classes = document.body.classList;
  args[args.length - 1] = [classes.contains("pg-projector") ? "projector" : "", classes.contains("dark") ? "dark" : ""].join(" ");
  return args;
}"""
PLAY_JS = f"(...args) => {{ window.famPlaying = true; return ({DISPLAY_JS})(...args); }}"
STOP_JS = f"(...args) => {{ window.famPlaying = false; return ({DISPLAY_JS})(...args); }}"
PLAY_NEXT_JS = """(more) => {
  if (window.famPlaying && String(more || "").startsWith("more")) document.getElementById("fam-play-next")?.click();
  else window.famPlaying = false;
}"""


def link_key(family: str, key: str) -> str:
    return f"{PREFIX[family]}_{key}"


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Config:
    family: str
    dataset: str                # a name, or DRAWN
    points: str                 # the drawn or pasted points (CSV) when dataset is DRAWN
    seed: int
    until: int                  # train up to this step
    per_frame: int
    train_settings: dict        # the family's settings that shape training
    view_settings: dict         # those that change only what is shown

    @property
    def key(self) -> tuple:
        """What a run in progress must match to continue; anything else starts a new one."""
        points = hashlib.sha256(self.points.encode()).hexdigest() if self.dataset == DRAWN else ""
        return self.family, self.dataset, points, self.seed, tuple(sorted(self.train_settings.items()))


def read_config(family, dataset, points, steps, seed, speed, *values) -> Config:
    """The page's inputs, checked: ValueError names the bad one."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} is unknown: choose one of {', '.join(FAMILIES)}.")
    if dataset not in (*DATASETS, DRAWN):
        raise ValueError(f"dataset {dataset!r} is unknown: choose one of {', '.join(DATASETS)} or your own points.")
    if speed not in SPEEDS:
        raise ValueError(f"speed {speed!r} is unknown: choose one of {', '.join(SPEEDS)}.")
    given = {setting.key: value for (owner, setting), value in zip(SETTING_KEYS, values)
             if owner == family and value is not None}
    settings = check_settings(family, given)
    retrain = {setting.key for setting in SETTINGS[family] if setting.retrain}
    return Config(family, dataset, points or "", check_seed(0 if seed is None else seed),
                  check_steps(steps, family), SPEEDS[speed], {k: v for k, v in settings.items() if k in retrain},
                  {k: v for k, v in settings.items() if k not in retrain})


def new_session(config: Config) -> dict:
    points = parse_points(config.points) if config.dataset == DRAWN else None
    data = make_dataset(config.dataset, config.seed, points)
    return {"key": config.key, "run": Run(config.family, data, config.train_settings, config.seed),
            "epsilon_seed": 0, "probe": None}


def session_for(config: Config, session: dict | None) -> dict:
    """The session's run when it matches the inputs, else a new one from step 0."""
    if session and session.get("key") == config.key and session.get("run") is not None:
        return session
    return new_session(config)


def _view_settings(config: Config, session: dict) -> dict:
    return {**config.view_settings, "epsilon_seed": session["epsilon_seed"], "probe": session["probe"]}


# ---------------------------------------------------------------------------------------------
# Formatting a frame


def status_markdown(frame, run: Run, note: str = "") -> str:
    data = run.data
    parts = [f"**{FAMILY_TITLES[frame.family]}** on **{escape(data.name)}**", f"step {frame.step:,} of {frame.until:,}"]
    if frame.coverage is not None:
        parts.append(f"modes covered **{frame.coverage.covered} of {frame.coverage.num_modes}** "
                     f"({100 * frame.coverage.in_modes:.0f}% of samples in a mode)")
    parts.append(f"energy distance **{frame.energy:.3f}** (a plain Gaussian: {run.baseline_energy:.3f})")
    parts.append(f"training {frame.train_seconds:.1f} s · this frame {1000 * frame.frame_seconds:.0f} ms")
    text = " · ".join(parts)
    if data.note:
        text += f"<br>Your points: {escape(data.note)}"
    return text + (f"<br>{note}" if note else "")


def frame_outputs(frame, session: dict, display: str, note: str = "") -> tuple:
    run = session["run"]
    look = look_of(display)
    modes = None if run.data.centres is None else len(run.data.centres)
    return picture(frame, look), charts(frame, look, run.baseline_energy, modes), status_markdown(frame, run, note), session


# ---------------------------------------------------------------------------------------------
# Handlers (inputs: family, dataset, points, steps, seed, speed, every setting, then state and display)


def _split(args: tuple) -> tuple[Config, dict | None, str]:
    *inputs, session, display = args
    return read_config(*inputs), session, display


@friendly_errors
def play_handler(*args):
    """Train towards Steps for one burst of about BURST_SECONDS, streaming a frame every `speed` steps; the last
    output says whether there is more to train. The page starts the next burst once it has drawn this one
    (PLAY_NEXT_JS), so a slow browser is never flooded with frames it can't draw, and a class sharing one server
    takes turns in short events instead of each holding a worker for a whole training. Pause cancels."""
    config, session, display = _split(args)
    session = session_for(config, session)
    run = session["run"]
    view = _view_settings(config, session)
    if run.step >= config.until:
        yield (*frame_outputs(run.frame(view, config.until), session, display,
                              f"Already trained {run.step:,} steps: raise **Training steps** to go on, or press "
                              "Reset."), "done")
        return
    started = shown = time.monotonic()
    for frame in play(run, config.until, config.per_frame, view):
        wait = FRAME_SECONDS - (time.monotonic() - shown)
        if wait > 0:
            time.sleep(wait)
        shown = time.monotonic()
        done = frame.step >= config.until
        outputs = frame_outputs(frame, session, display, "Done." if done else "")
        if done or shown - started >= BURST_SECONDS:
            yield (*outputs, "done" if done else f"more {frame.step}")
            return
        yield outputs[0], gr.skip(), *outputs[2:], gr.skip()   # the charts move slowly: once a burst


@friendly_errors
def step_handler(step_by, *args):
    """Train `step_by` steps (from the current run, or a new one), then show one frame."""
    config, session, display = _split(args)
    if isinstance(step_by, bool) or not isinstance(step_by, (int, float)) or not 1 <= step_by <= 1000 \
            or float(step_by) != int(step_by):
        raise ValueError(f"steps per Step = {step_by!r} must be a whole number from 1 to 1,000.")
    session = session_for(config, session)
    session["run"].advance(int(step_by))
    run = session["run"]
    return frame_outputs(run.frame(_view_settings(config, session), max(config.until, run.step)), session, display)


@friendly_errors
def reset_handler(*args):
    config, _, display = _split(args)
    session = new_session(config)
    return frame_outputs(session["run"].frame(_view_settings(config, session), config.until), session, display,
                         "Reset: the model is back at step 0 (its initial weights from the seed).")


def redraw_handler(*args, note: str = ""):
    """A setting that changes only the view (temperature, sampler, t, epsilon, a latent point): draw the
    current run again; nothing happens before a run exists or when the inputs no longer match it."""
    try:
        config, session, display = _split(args)
    except ValueError:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    if not session or session.get("key") != config.key:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    run = session["run"]
    return frame_outputs(run.frame(_view_settings(config, session), max(config.until, run.step)), session, display,
                         note)


def pause_handler(*args):
    """After Pause has cancelled the burst: draw the run where it stopped (the burst may have trained past its
    last frame), so the picture and the status say where Step and Play go on from."""
    return redraw_handler(*args, note="Paused: press Play or Step to go on.")


def resample_handler(*args):
    *rest, session, display = args
    if session:
        session["epsilon_seed"] = session.get("epsilon_seed", 0) + 1
    return redraw_handler(*rest, session, display)


@friendly_errors
def decode_handler(z_text, *args):
    *rest, session, display = args
    parts = [part for part in str(z_text or "").replace(";", ",").replace(" ", ",").split(",") if part]
    try:
        z = [float(part) for part in parts]
    except ValueError:
        z = []
    if len(z) != 2 or not all(np.isfinite(z)):
        raise ValueError(f"latent point {z_text!r} must be two numbers z1, z2, such as 0.5, -1.")
    if not session or session.get("run") is None or session["run"].family != "vae":
        raise ValueError("train the VAE first (choose VAE and press Play or Step), then decode a latent point.")
    session["probe"] = z
    return redraw_handler(*rest, session, display)


# ---------------------------------------------------------------------------------------------
# The API


def _result_dict(result) -> dict:
    losses = result.losses
    return {
        "family": result.family, "dataset": result.dataset, "steps": result.steps, "settings": result.settings,
        "samples": np.round(result.samples.astype(float), 5).tolist(),
        "losses": [{"step": int(step), **{name: float(v) for name, v in zip(losses.names, row)}}
                   for step, row in zip(losses.steps, losses.values)],
        "metrics": {"modes_covered": result.modes_covered, "num_modes": result.num_modes,
                    "in_modes": result.in_modes, "energy_distance": result.energy_distance,
                    "log_likelihood": result.log_likelihood, "likelihood_kind": result.likelihood_kind,
                    "train_seconds": result.train_seconds, "sample_seconds_per_1000": result.sample_seconds_per_1000},
    }


@friendly_errors
def train_family_api(family: str, dataset: str, steps: int, seed: int, settings: dict) -> dict:
    """Train `family` on `dataset` (a name, or points as CSV text) for `steps` (0: the default) with `seed` and
    `settings` ({} for the defaults, {"preset": "mode_collapse"} for the GAN preset); returns the samples,
    the losses and the measurements."""
    if isinstance(settings, str):
        raise ValueError(f"settings must be a dict such as {{'lr': 0.001}}; got the text {settings[:60]!r}.")
    return _result_dict(train_family(family, dataset, steps, seed, settings))


# ---------------------------------------------------------------------------------------------
# Layout

HOOK_JS = """
// The VAE's latent plane: a click anywhere on it (an invisible heatmap catches it) decodes that point.
setInterval(() => {
  const plot = document.querySelector("#fam-picture .js-plotly-plot");
  if (!plot || plot.famHooked || typeof plot.on !== "function") return;
  plot.famHooked = true;
  plot.on("plotly_click", (event) => {
    const point = (event.points || []).find((p) => p.data && p.data.xaxis === "x2" && p.data.name === "latent-click");
    const field = document.querySelector("#fam-vae-z textarea, #fam-vae-z input");
    if (!point || !field) return;
    field.value = `${Number(point.x).toFixed(2)}, ${Number(point.y).toFixed(2)}`;
    field.dispatchEvent(new Event("input", {bubbles: true}));
    setTimeout(() => document.querySelector("#fam-vae-decode")?.click(), 100);
  });
}, 700);
"""
INTRO = (
    "Five families of generative models learn the same 2D data here, live, with the same measurements. A **GAN** "
    "pits a generator against a discriminator; a **VAE** encodes each point to a Gaussian in a latent plane and "
    "decodes it back; a **normalizing flow** bends a Gaussian into the data with invertible layers; a **diffusion** "
    "model learns to remove noise; an **autoregressive** model draws one coordinate at a time. Pick a family and a "
    "data set, press **Play**, and watch it learn; **Pause**, **Step** and **Reset** as you like. *Side by side* "
    "trains all five on the same data; *Latent space of images* takes the same ideas to pictures.")


def _component(family: str, setting):
    key = link_key(family, setting.key)
    common = {"label": setting.label, "elem_id": f"fam-{key.replace('_', '-')}", "info": setting.info or None}
    if setting.kind == "choice":
        return gr.Radio(list(setting.choices), value=setting.default, **common)
    if not setting.retrain:
        step = 1 if setting.kind == "int" else 0.05
        return gr.Slider(setting.minimum, setting.maximum, value=setting.default, step=step, **common)
    return gr.Number(setting.default, minimum=setting.minimum, maximum=setting.maximum,
                     precision=0 if setting.kind == "int" else None, **common)


def python_lines(values: dict) -> list[str]:
    """Copy as Python: train the chosen family through the API with the page's settings."""
    family = values["family"]
    settings = {setting.key: values[link_key(family, setting.key)] for setting in SETTINGS[family]}
    dataset = values["points"] if values["dataset"] == DRAWN else values["dataset"]
    return [f"settings = {settings!r}",
            f'result = client.predict({family!r}, {dataset!r}, {values["steps"]!r}, {values["seed"]!r}, settings, '
            'api_name="/train_family")',
            'print(result["metrics"])',
            'print(len(result["samples"]), "samples, the first:", result["samples"][0])']


def build() -> Controls:
    heavy = heavy_events("families")   # this tab's model-running events: one concurrency group
    gr.Markdown(INTRO)
    gr.HTML("", js_on_load=HOOK_JS, elem_id="fam-hooks")   # outside the closed accordions, so it runs at once
    inputs: dict[str, gr.components.Component] = {}
    groups, settings = {}, []
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            family = gr.Radio([(FAMILY_TITLES[f], f) for f in FAMILIES], value="gan", label="Family",
                              elem_id="fam-family")
            dataset = gr.Dropdown([*DATASETS, ("your points (draw or paste below)", DRAWN)], value="ring8",
                                  label="Data set", elem_id="fam-dataset",
                                  info="ring8: 8 Gaussians on a circle; grid25: a 5 × 5 grid of them")
            with gr.Row():
                steps = gr.Number(0, label="Training steps", precision=0, minimum=0, maximum=MAX_STEPS,
                                  elem_id="fam-steps", info=f"0: the family's default ({DEFAULT_STEPS['gan']:,})")
                seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=2**31 - 1, elem_id="fam-seed")
            speed = gr.Radio(list(SPEEDS), value="normal", label="Speed", elem_id="fam-speed",
                             info="training steps per frame: 1, 20 or 100")
            for name in FAMILIES:
                with gr.Column(visible=name == "gan", elem_id=f"fam-{PREFIX[name]}-settings") as group:
                    gr.Markdown(f"**{FAMILY_TITLES[name]} settings**")
                    if name == "gan":
                        with gr.Row():
                            collapse = gr.Button("Mode-collapse preset", size="sm", elem_id="fam-gan-collapse")
                            gan_defaults = gr.Button("Default settings", size="sm", elem_id="fam-gan-defaults")
                    for setting in SETTINGS[name]:
                        component = _component(name, setting)
                        inputs[link_key(name, setting.key)] = component
                        settings.append(component)
                    if name == "vae":
                        resample = gr.Button("Resample epsilon", size="sm", elem_id="fam-vae-resample")
                        with gr.Row():
                            z_box = gr.Textbox(label="Latent point z (or click the latent plane)", placeholder="0.5, -1",
                                               elem_id="fam-vae-z", scale=3)
                            decode = gr.Button("Decode z", size="sm", elem_id="fam-vae-decode", scale=1)
                groups[name] = group
        with gr.Column(scale=3):
            with gr.Row():
                play_button = gr.Button("▶ Play", variant="primary", elem_id="fam-play")
                pause = gr.Button("⏸ Pause", elem_id="fam-pause")
                step = gr.Button("Step", elem_id="fam-step")
                step_by = gr.Number(1, label="Steps per Step", precision=0, minimum=1, maximum=1000,
                                    elem_id="fam-step-by", min_width=90)
                reset = gr.Button("⟲ Reset", elem_id="fam-reset")
            status = gr.Markdown("Press **Play** to train the chosen family.", elem_id="fam-status")
            picture_plot = gr.Plot(show_label=False, elem_id="fam-picture")
            charts_plot = gr.Plot(show_label=False, elem_id="fam-charts")
    display = gr.Textbox(visible=False)                  # the page's look, for figures (DISPLAY_JS)
    live = {"api_visibility": "private", "js": DISPLAY_JS}
    points = families_pad.build(dataset)
    compare_steps = families_compare.build(dataset, points, seed, display, live, heavy)
    latent_inputs = families_latent.build(display, live, heavy)
    state = gr.State(None, time_to_live=3600)
    more = gr.Textbox(visible=False)                     # "more <step>" after a burst with steps left, else "done"
    play_next = gr.Button("next burst", elem_id="fam-play-next", elem_classes="pg-hidden")

    train_inputs = [family, dataset, points, steps, seed, speed, *settings]
    frame_outputs_ = [picture_plot, charts_plot, status, state]
    bursts = []
    for button, js in ((play_button, PLAY_JS), (play_next, DISPLAY_JS)):
        burst = button.click(play_handler, train_inputs + [state, display], frame_outputs_ + [more], js=js,
                             concurrency_id="families-live", concurrency_limit=LIVE_CONCURRENCY, api_visibility="private")
        burst.then(None, more, None, js=PLAY_NEXT_JS, api_visibility="private")
        bursts.append(burst)
    pause.click(None, js="() => { window.famPlaying = false; }", cancels=bursts, api_visibility="private").then(
        pause_handler, train_inputs + [state, display], frame_outputs_, js=DISPLAY_JS, api_visibility="private")
    step.click(step_handler, [step_by] + train_inputs + [state, display], frame_outputs_, cancels=bursts,
               concurrency_id="families-live", concurrency_limit=LIVE_CONCURRENCY, api_visibility="private", js=STOP_JS)
    reset.click(reset_handler, train_inputs + [state, display], frame_outputs_, cancels=bursts,
                api_visibility="private", js=STOP_JS)
    for component, (owner, setting) in zip(settings, SETTING_KEYS):
        if not setting.retrain:
            component.change(redraw_handler, train_inputs + [state, display], frame_outputs_, trigger_mode="always_last",
                             show_progress="hidden", **live)
    resample.click(resample_handler, train_inputs + [state, display], frame_outputs_, **live)
    decode.click(decode_handler, [z_box] + train_inputs + [state, display], frame_outputs_, **live)
    z_box.submit(decode_handler, [z_box] + train_inputs + [state, display], frame_outputs_, **live)
    family.change(lambda chosen: [gr.update(visible=name == chosen) for name in FAMILIES], family,
                  [groups[name] for name in FAMILIES], api_visibility="private", queue=False)
    gan_components = [inputs[link_key("gan", setting.key)] for setting in SETTINGS["gan"]]
    preset = PRESETS["gan"]["mode_collapse"]
    collapse.click(lambda: [preset.get(s.key, s.default) for s in SETTINGS["gan"]], None, gan_components,
                   api_visibility="private", queue=False)
    gan_defaults.click(lambda: [s.default for s in SETTINGS["gan"]], None, gan_components, api_visibility="private",
                       queue=False)
    gr.api(train_family_api, api_name="train_family", **heavy)
    inputs = {"family": family, "dataset": dataset, "points": points, "steps": steps, "seed": seed, "speed": speed,
              **inputs, "compare_steps": compare_steps, **latent_inputs}
    return Controls(play_button, inputs, python_lines)
