"""The Sampling tab's beam tree as HTML: one row per beam, read left to right like text.

The viewer takes data (a BeamTree and its lanes from playground.sampling.beam_layout), not a model. Each step is a
column of token chips, one per lane; between two columns a small SVG draws which beam each chip came from
(a straight line when a beam goes on, a curve when it splits), and short stubs with a × for the candidates
that step pruned. Columns wrap like words, so the whole search fits the page at any width. Every size is in
em, so projector mode (a larger font) enlarges the tree and its lines together. Token text is escaped once.

    >>> from playground.sampling import BeamNode, BeamTree
    >>> tree = BeamTree(1, (BeamNode(0, -1, 0, 7, '"', -0.1, -0.1, "kept", True),
    ...                     BeamNode(1, 0, 1, 2, "</s>", -0.2, -0.3, "finished", True)))
    >>> html = render_tree(tree)
    >>> html.count("pg-beam-chip pg-beam-kept pg-beam-out"), "&quot;" in html, "&amp;quot;" in html
    (1, True, False)
"""

from __future__ import annotations

import math

from playground.sampling.beam_layout import BeamLayout, layout_beam_tree
from playground.sampling import BeamNode, BeamTree
from tabs.common import escape

__all__ = ["render_tree", "legend", "chip_text"]

LANE = 24          # SVG units per lane (the CSS draws a lane 2.4em high: 1 unit = 0.1em)
LINK = 16          # SVG units between two columns (1.6em)
MAX_CHARS = 14     # longer tokens are cut with "…" in their chip (the tooltip has them whole)
STUB = 9           # SVG units: the length of a pruned candidate's stub


def chip_text(token: str) -> str:
    """A token as its chip shows it, before escaping: newlines and tabs visible, a token of spaces shown as
    ␣ (an empty chip would say nothing), long tokens cut.

    >>> chip_text(" sea"), chip_text("\\n\\n"), chip_text("  "), chip_text("a" * 20)
    (' sea', '↵↵', '␣␣', 'aaaaaaaaaaaaa…')
    """
    text = token.replace("\n", "↵").replace("\t", "→").replace("\r", "␍")
    if text and not text.strip(" "):
        text = "␣" * len(text)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"


def _centre(lane: int) -> float:
    return (lane + 0.5) * LANE


def _tooltip(node: BeamNode) -> str:
    fate = {"kept": "kept: this beam goes on", "finished": "ended (end token or length): a finished hypothesis",
            "pruned": "pruned: not among the best candidates"}[node.status]
    returned = ", part of the returned sequence" if node.on_output else ""
    return (f"step {node.step}: {node.token!r}\nlog p(token) {node.logprob:.2f}, beam score (total log p) "
            f"{node.score:.2f}\n{fate}{returned}")


def _links(nodes: list[BeamNode], layout: BeamLayout) -> str:
    """The SVG between column t-1 and column t: a line into each chip of column t, stubs for the rest."""
    lines, stubs = [], []
    stub_count: dict[int, int] = {}
    for node in sorted(nodes, key=lambda n: n.on_output):          # the returned path is drawn last, on top
        start = _centre(layout.parent_lane(node))
        lane = layout.lane_of[node.id]
        if lane is None:
            k = stub_count[node.parent] = stub_count.get(node.parent, -1) + 1
            angle = math.radians(30 + 12 * min(k, 4))               # a fan below the beam's line
            end_x, end_y = STUB * math.cos(angle), start + STUB * math.sin(angle)
            stubs.append(f'<g class="pg-beam-stub"><title>{escape(_tooltip(node))}</title>'
                         f'<path d="M0 {start:g} L{end_x:.1f} {end_y:.1f}"/>'
                         f'<circle cx="{end_x:.1f}" cy="{end_y:.1f}" r="1.1"/></g>')
            continue
        end = _centre(lane)
        shape = f"M0 {start:g} H{LINK}" if lane == layout.parent_lane(node) else \
            f"M0 {start:g} C{LINK / 2:g} {start:g} {LINK / 2:g} {end:g} {LINK} {end:g}"
        lines.append(f'<path class="pg-beam-edge{" pg-beam-out" if node.on_output else ""}" d="{shape}"/>')
    return (f'<svg class="pg-beam-links" viewBox="0 0 {LINK} {layout.lanes * LANE}" aria-hidden="true">'
            f'{"".join(stubs)}{"".join(lines)}</svg>')


def _cells(nodes: list[BeamNode], layout: BeamLayout, parents: set[int]) -> str:
    """The lanes of one column: a chip where a beam is, an empty cell elsewhere; a line runs on to the next
    column from every chip that has children."""
    at = {layout.lane_of[n.id]: n for n in nodes if layout.lane_of[n.id] is not None}
    cells = []
    for lane in range(layout.lanes):
        node = at.get(lane)
        if node is None:
            cells.append('<div class="pg-beam-cell"></div>')
            continue
        classes = f"pg-beam-chip pg-beam-{node.status}{' pg-beam-out' if node.on_output else ''}"
        on = " pg-beam-on" if node.id in parents else ""
        cells.append(f'<div class="pg-beam-cell{on}{" pg-beam-out" if node.on_output else ""}">'
                     f'<span class="{classes}" title="{escape(_tooltip(node))}">{escape(chip_text(node.token))}'
                     f'</span></div>')
    return "".join(cells)


def render_tree(tree: BeamTree, prompt_title: str = "the prompt") -> str:
    """The whole search: a prompt column, then one column per step, wrapping across lines."""
    layout = layout_beam_tree(tree)
    by_step: dict[int, list[BeamNode]] = {}
    for node in tree.nodes:
        by_step.setdefault(node.step, []).append(node)
    parents = {node.parent for node in tree.nodes}
    root_cells = "".join(
        '<div class="pg-beam-cell pg-beam-on pg-beam-out">'
        f'<span class="pg-beam-chip pg-beam-root" title="{escape(prompt_title)}">prompt</span></div>'
        if lane == 0 else '<div class="pg-beam-cell"></div>' for lane in range(layout.lanes))
    columns = [f'<div class="pg-beam-col"><div class="pg-beam-step">&nbsp;</div>'
               f'<div class="pg-beam-body"><div class="pg-beam-cells">{root_cells}</div></div></div>']
    for step in range(layout.steps):
        nodes = by_step.get(step, [])
        columns.append(f'<div class="pg-beam-col"><div class="pg-beam-step">{step}</div><div class="pg-beam-body">'
                       f'{_links(nodes, layout)}<div class="pg-beam-cells">{_cells(nodes, layout, parents)}</div>'
                       '</div></div>')
    return (f'<div class="pg-beam-tree" style="--pg-beam-lanes:{layout.lanes}" data-lanes="{layout.lanes}">'
            f'{"".join(columns)}</div>')


STUB_KEY = ('<svg class="pg-beam-key" viewBox="0 0 10 10" aria-hidden="true"><g class="pg-beam-stub">'
            '<path d="M1 2 L7 8"/><circle cx="7" cy="8" r="1.4"/></g></svg>')


def legend(tree: BeamTree) -> str:
    """What the marks mean, with the counts of this tree."""
    pruned = sum(n.status == "pruned" for n in tree.nodes)
    finished = sum(n.status == "finished" for n in tree.nodes)
    return ('<div class="pg-beam-legend">'
            '<span class="pg-beam-chip pg-beam-kept pg-beam-out">returned</span> the sequence beam search returned '
            '(top row) · <span class="pg-beam-chip pg-beam-kept">kept</span> a beam the search went on with '
            f'(each keeps its row; a curve is a beam splitting in two) · <span class="pg-beam-chip pg-beam-finished">'
            f'ended</span> a finished hypothesis ({finished}) · {STUB_KEY} a candidate pruned at that step '
            f'({pruned}). Chips show tokens exactly, leading space included; hover a chip or a stub for its '
            'token and scores.</div>')
