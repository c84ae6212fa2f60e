"""tabs.beam_tree: the beam tree's HTML, parsed back: one chip per cell (labels can't collide), the returned
sequence one straight top row, model text escaped exactly once, stubs for pruned candidates."""

from __future__ import annotations

from html.parser import HTMLParser

from playground.sampling.beam_layout import ROOT, layout_beam_tree
from playground.sampling import BeamNode, BeamTree
from tabs.beam_tree import LANE, LINK, chip_text, legend, render_tree

XSS = "<img src=x onerror=alert(1)>"


class Columns(HTMLParser):
    """The tree's columns: for each, its cells (the text of the chip in each, or None) and its SVG paths."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[dict] = []
        self.in_chip = False

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if "pg-beam-col" in classes:
            self.columns.append({"cells": [], "paths": [], "out_paths": []})
        elif "pg-beam-cell" in classes:
            self.columns[-1]["cells"].append(None)
        elif "pg-beam-chip" in classes:
            assert self.columns[-1]["cells"][-1] is None, "two chips in one cell"
            self.columns[-1]["cells"][-1] = ""
            self.columns[-1].setdefault("out", []).append("pg-beam-out" in classes)
            self.in_chip = True
        elif tag == "path" and self.columns:
            key = "out_paths" if "pg-beam-out" in classes else "paths"
            self.columns[-1][key].append(dict(attrs)["d"])

    def handle_endtag(self, tag):
        if tag == "span":
            self.in_chip = False

    def handle_data(self, data):
        if self.in_chip:
            self.columns[-1]["cells"][-1] += data


def node(id, parent, step, status, score, out=False, token="t"):
    return BeamNode(id, parent, step, 100 + id, token, score, score, status, out)


TREE = BeamTree(2, (
    node(0, ROOT, 0, "kept", -0.1, out=True, token=' "'), node(1, ROOT, 0, "kept", -1.0, token=XSS),
    node(2, ROOT, 0, "pruned", -3.0, token="&amp;"),
    node(3, 0, 1, "kept", -0.2, out=True, token="\n"), node(4, 0, 1, "kept", -1.1, token="  "),
    node(5, 1, 1, "pruned", -2.0),
    node(6, 3, 2, "finished", -0.3, out=True, token="</s>"), node(7, 4, 2, "kept", -1.2, token="a" * 30),
))


def parse(tree: BeamTree) -> list[dict]:
    parser = Columns()
    parser.feed(render_tree(tree, prompt_title=XSS))
    return parser.columns


def test_each_column_has_a_cell_per_lane_and_at_most_one_chip_in_each():
    layout = layout_beam_tree(TREE)
    columns = parse(TREE)
    assert len(columns) == 1 + layout.steps                                    # the prompt, then the steps
    assert all(len(column["cells"]) == layout.lanes for column in columns)
    chips = [[cell for cell in column["cells"] if cell is not None] for column in columns[1:]]
    placed = [[n for n in TREE.nodes if n.step == step and layout.lane_of[n.id] is not None] for step in range(3)]
    assert [len(c) for c in chips] == [len(p) for p in placed] == [2, 2, 2]


def test_the_returned_sequence_is_one_straight_top_row():
    columns = parse(TREE)
    for column in columns[1:]:
        assert column["cells"][0] is not None and column["out"][0]              # top cell: a returned chip
        assert column["out_paths"] == [f"M0 {LANE / 2:g} H{LINK}"]             # reached by a straight line
        assert not any(column["out"][1:])


def test_model_text_is_escaped_once_and_shown_as_it_is():
    html = render_tree(TREE, prompt_title=XSS)
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&amp;amp;" in html and "&amp;quot;" not in html                   # a literal "&amp;" token, once
    texts = [cell for column in parse(TREE)[1:] for cell in column["cells"] if cell is not None]
    assert texts[:2] == [' "', chip_text(XSS)]                                 # the parser decodes entities once
    assert "↵" in texts and "␣␣" in texts and "a" * 13 + "…" in texts


def test_pruned_candidates_are_stubs_with_their_token_in_a_tooltip():
    html = render_tree(TREE)
    assert html.count('class="pg-beam-stub"') == 2
    assert "pruned: not among the best candidates" in html and "&#x27;&amp;amp;&#x27;" in html
    assert "(2)" in legend(TREE) and "(1)" in legend(TREE)                    # pruned and ended counts
