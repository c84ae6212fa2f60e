"""The Generative families tab's drawing pad: a student clicks or drags in a square to add 2D points (or pastes
CSV beside it), and the data set becomes those points. The pad is an SVG whose viewBox is the plane itself
(-3 to 3 on each axis), so the browser maps a click to the plane (getScreenCTM), zoom and scroll included; the
points live in a textbox as "x,y" lines, which is what the handlers read (playground.families.parse_points).

    >>> PAD_HTML.count("<line"), "viewBox='-3 -3 6 6'" in PAD_HTML
    (10, True)
"""

from __future__ import annotations

import gradio as gr

from playground.families import DRAWN

PAD_HTML = ("<div class='fam-pad-wrap'><svg class='fam-pad' viewBox='-3 -3 6 6' role='img' "
            "aria-label='Drawing pad: click or drag to add points'><g class='fam-pad-grid'>"
            + "".join(f"<line{' class=fam-axis' if v == 0 else ''} x1='{v}' y1='-3' x2='{v}' y2='3'></line>"
                      f"<line{' class=fam-axis' if v == 0 else ''} x1='-3' y1='{v}' x2='3' y2='{v}'></line>"
                      for v in range(-2, 3))
            + "</g><g class='fam-pad-points'></g></svg><p class='fam-note'>Click or drag in the square (the plane, −3 to 3 "
            "on each axis, y up) to add points; they go into the box beside it as x,y lines and the data set becomes "
            "your points. Or paste CSV there.</p></div>")
PAD_JS = """
const svg = element.querySelector("svg.fam-pad");
const layer = element.querySelector(".fam-pad-points");
const box = () => document.querySelector("#fam-points textarea");
let shown = null, drawing = false, last = null;
const parse = (text) => text.split("\\n").map((line) => line.split(/[,;\\s]+/).filter(Boolean).map(Number))
  .filter((p) => p.length === 2 && p.every(Number.isFinite));
const redraw = () => {
  const b = box();
  if (!b || b.value === shown) return;
  shown = b.value;
  layer.innerHTML = parse(shown).slice(0, 5000).map(([x, y]) => `<circle cx="${x}" cy="${-y}" r="0.06"></circle>`).join("");
};
const toPlane = (event) => {
  const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [Math.max(-3, Math.min(3, p.x)), Math.max(-3, Math.min(3, -p.y))];
};
const add = ([x, y]) => {
  const b = box();
  if (!b) return;
  const line = `${x.toFixed(2)},${y.toFixed(2)}`;
  b.value = b.value.trim() ? b.value.replace(/\\s*$/, "") + "\\n" + line : line;
  b.dispatchEvent(new Event("input", {bubbles: true}));
  document.getElementById("fam-drawn")?.click();   // the data set becomes the drawn points
  redraw();
};
svg.addEventListener("pointerdown", (event) => { drawing = true; last = toPlane(event); add(last);
                                                 svg.setPointerCapture(event.pointerId); });
svg.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const p = toPlane(event);
  if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 0.15) { last = p; add(p); }
});
svg.addEventListener("pointerup", () => { drawing = false; });
setInterval(redraw, 400);
"""


def build(dataset: gr.Dropdown) -> gr.Textbox:
    """The pad's accordion and events; returns the points box (CSV text). Drawing or typing points makes `dataset`
    the drawn points; clearing empties the box."""
    with gr.Accordion("Your own points: draw or paste", open=False, elem_id="fam-draw"):
        with gr.Row():
            gr.HTML(PAD_HTML, js_on_load=PAD_JS, elem_id="fam-pad")
            with gr.Column():
                points = gr.Textbox(label="Points (x,y per line)", lines=8, max_lines=14, elem_id="fam-points",
                                    info="At least 3, at most 10,000; each becomes the centre of a small Gaussian")
                clear = gr.Button("Clear the points", elem_id="fam-clear")
    drawn = gr.Button("points drawn", elem_id="fam-drawn", elem_classes="pg-hidden")   # the pad's JS clicks it
    points.input(lambda text: DRAWN if str(text or "").strip() else gr.skip(), points, dataset,
                 api_visibility="private", queue=False)
    drawn.click(lambda: DRAWN, None, dataset, api_visibility="private", queue=False)
    clear.click(lambda: "", None, points, api_visibility="private", queue=False)
    return points
