"""The Generative families tab's side by side: all five families trained on the same data, one after another,
with their default settings and the same seed, measured the same way against 1,000 held-out points (modes
covered, energy distance, log-likelihood, time); the table grows as each family finishes.

    >>> len(_table([], baseline(make_dataset("ring8"), 0), 1000).split("<tr")) - 1    # header and two baselines
    3
"""

from __future__ import annotations

import gradio as gr

from playground.families import (DATASETS, DEFAULT_STEPS, DRAWN, FAMILIES, FAMILY_TITLES, MAX_STEPS, baseline,
                                 check_seed, check_steps, dataset_from, make_dataset, train_all)
from tabs.common import escape, friendly_errors
from tabs.families_figures import compare_figure, look_of


def _table(rows: list[tuple[str, object]], base, until: int) -> str:
    header = ("<tr><th>family</th><th>modes covered</th><th>samples in a mode</th><th>energy distance</th>"
              "<th>log-likelihood (nats per point)</th><th>training</th><th>1,000 samples</th></tr>")
    body = []
    for title, result in rows:
        modes = "–" if result.num_modes is None else f"{result.modes_covered} of {result.num_modes}"
        share = "–" if result.in_modes is None else f"{100 * result.in_modes:.0f}%"
        likelihood = ("none (a GAN has no density)" if result.log_likelihood is None else
                      f"{result.log_likelihood:.2f} ({'exact' if result.likelihood_kind == 'exact' else 'a lower bound'})")
        body.append(f"<tr><td>{escape(title)}</td><td>{modes}</td><td>{share}</td>"
                    f"<td>{result.energy_distance:.4f} ({result.energy_distance / base.energy_distance:.2f}× "
                    f"a Gaussian's)</td><td>{likelihood}</td><td>{result.train_seconds:.1f} s</td>"
                    f"<td>{1000 * result.sample_seconds_per_1000:.0f} ms</td></tr>")
    body.append(f"<tr class='fam-baseline'><td>a plain Gaussian (the data's mean and covariance)</td><td>–</td><td>–</td>"
                f"<td>{base.energy_distance:.4f}</td><td>{base.log_likelihood:.2f} (exact)</td><td>–</td><td>–</td></tr>")
    body.append(f"<tr class='fam-baseline'><td>the data itself (another 1,000 points)</td><td>–</td><td>–</td>"
                f"<td>{base.data_energy_distance:.4f}</td><td>–</td><td>–</td><td>–</td></tr>")
    return (f"<table class='pg-summary fam-table' id='fam-compare-table-inner'>{header}{''.join(body)}</table>"
            f"<p class='fam-note'>Each family trained {until:,} steps (its own default when 0) with its default settings "
            "and the same seed; samples and measurements against 1,000 held-out points. Energy distance: 0 when two "
            "distributions are equal. Modes: a sample counts for a mode within 3 standard deviations of its centre; a "
            "mode is covered when it holds at least 20% of its fair share.</p>")


@friendly_errors
def compare_handler(dataset, points, steps, seed, display, progress=gr.Progress()):
    """Every family on the same data, one after another; the table grows as each finishes."""
    seed = check_seed(0 if seed is None else seed)
    steps = check_steps(steps, "gan") if steps else 0
    data = dataset_from(points, seed) if dataset == DRAWN else make_dataset(dataset, seed) if dataset in DATASETS \
        else dataset_from(dataset, seed)
    base = baseline(data, seed)
    look = look_of(display)
    rows, results = [], []
    trained = train_all(data, steps, seed)
    for index, family in enumerate(FAMILIES):
        progress(index / len(FAMILIES), desc=f"Training the {FAMILY_TITLES[family]}")
        result = next(trained)
        results.append((FAMILY_TITLES[family], result))
        rows = [("plain Gaussian", base.samples)] + [(title, r.samples) for title, r in results]
        yield _table(results, base, steps or DEFAULT_STEPS[family]), compare_figure(rows, data.heldout, look)


def build(dataset: gr.Dropdown, points: gr.Textbox, seed: gr.Number, display: gr.Textbox, live: dict,
          heavy: dict) -> gr.Number:
    """The side by side's accordion and its event (the tab's data set, points and seed; `live` and `heavy` its
    listener options); returns the steps box, for links."""
    with gr.Accordion("Side by side: every family on the same data", open=False, elem_id="fam-compare-section"):
        gr.Markdown("The data set and seed above; each family with its default settings and the same number of "
                    "steps, one after another, measured the same way.")
        with gr.Row():
            compare_steps = gr.Number(0, label="Training steps for each family", precision=0, minimum=0,
                                      maximum=MAX_STEPS, elem_id="fam-compare-steps",
                                      info="0: each family's default")
            compare_button = gr.Button("Train all five", elem_id="fam-compare")
        table = gr.HTML(elem_id="fam-compare-table")
        compare_plot = gr.Plot(show_label=False, elem_id="fam-compare-plot")
    compare_button.click(compare_handler, [dataset, points, compare_steps, seed, display], [table, compare_plot],
                         **live, **heavy)
    return compare_steps
