"""playground.sampling.beam_layout: each kept beam keeps its row, the returned sequence is one straight row, no two
nodes share a place; on hand-made trees and on a real search of the tiny model."""

from __future__ import annotations

import pytest

from playground import sampling as S
from playground.sampling.beam_layout import ROOT, layout_beam_tree
from playground.sampling import BeamNode, BeamTree
from tests.sampling_fixtures import tiny, tiny_lm  # noqa: F401  (fixtures)


def node(id, parent, step, status, score, out=False, token="t"):
    return BeamNode(id, parent, step, 100 + id, token, score, score, status, out)


def check_layout(tree: BeamTree, max_lanes: int) -> None:
    """The promises of the layout, for any tree."""
    layout = layout_beam_tree(tree)
    places = [(n.step, layout.lane_of[n.id]) for n in tree.nodes if layout.lane_of[n.id] is not None]
    assert len(places) == len(set(places)), "two chips in one place"
    assert layout.lanes <= max_lanes
    output = [n for n in tree.nodes if n.on_output]
    assert output and all(layout.lane_of[n.id] == 0 for n in output), "the returned sequence leaves row 0"
    assert all(layout.lane_of[n.id] != 0 for n in tree.nodes if not n.on_output), "row 0 is the returned one's"
    assert all(layout.lane_of[n.id] is not None for n in tree.nodes if n.status == "kept"), "a kept beam has a row"
    assert all(layout.lane_of[n.id] is None for n in tree.nodes if n.status == "pruned"), "pruned: stubs"
    # a beam that goes on with one child keeps its row
    children: dict[int, list[BeamNode]] = {}
    for n in tree.nodes:
        if layout.lane_of[n.id] is not None:
            children.setdefault(n.parent, []).append(n)
    for parent, placed in children.items():
        if parent != ROOT and len(placed) == 1 and layout.lane_of[parent] != 0:
            assert layout.lane_of[placed[0].id] == layout.lane_of[parent]


def test_hand_made_tree_a_splitting_beam_sends_its_second_child_to_a_free_row():
    tree = BeamTree(3, (
        node(0, ROOT, 0, "kept", -0.1, out=True), node(1, ROOT, 0, "kept", -1.0), node(2, ROOT, 0, "kept", -2.0),
        node(3, ROOT, 0, "pruned", -3.0),
        # step 1: beam 1 splits in two, beam 2 dies, the returned one goes on
        node(4, 0, 1, "kept", -0.2, out=True), node(5, 1, 1, "kept", -1.1), node(6, 1, 1, "kept", -1.2),
        node(7, 2, 1, "pruned", -2.5), node(8, 0, 1, "pruned", -2.6),
        # step 2: the returned one ends; beam in row 2 ends too; row 1 goes on
        node(9, 4, 2, "finished", -0.3, out=True), node(10, 5, 2, "kept", -1.3), node(11, 6, 2, "finished", -1.4),
    ))
    layout = layout_beam_tree(tree)
    assert layout.lane_of == (0, 1, 2, None, 0, 1, 2, None, None, 0, 1, 2)
    assert (layout.lanes, layout.steps) == (3, 3)
    assert layout.parent_lane(tree.nodes[6]) == 1 and layout.parent_lane(tree.nodes[0]) == 0
    check_layout(tree, 3)


def test_an_ended_hypothesis_without_a_free_row_becomes_a_stub():
    tree = BeamTree(2, (
        node(0, ROOT, 0, "kept", -0.1, out=True), node(1, ROOT, 0, "kept", -1.0),
        node(2, 0, 1, "kept", -0.2, out=True), node(3, 1, 1, "kept", -1.1), node(4, 1, 1, "finished", -1.2),
    ))
    assert layout_beam_tree(tree).lane_of == (0, 1, 0, 1, None)


def test_a_new_row_opens_only_when_kept_beams_need_it():
    # the returned sequence ends at step 1 while two other beams go on: they need rows 1 and 2
    tree = BeamTree(2, (
        node(0, ROOT, 0, "kept", -0.1, out=True), node(1, ROOT, 0, "kept", -1.0),
        node(2, 0, 1, "finished", -0.2, out=True), node(3, 1, 1, "kept", -1.1), node(4, 1, 1, "kept", -1.2),
        node(5, 3, 2, "kept", -1.3), node(6, 4, 2, "kept", -1.4),
    ))
    layout = layout_beam_tree(tree)
    assert layout.lane_of == (0, 1, 0, 1, 2, 1, 2) and layout.lanes == 3


@pytest.mark.parametrize("beams, tokens", [(2, 12), (3, 16), (4, 10)])
def test_layout_of_real_searches(tiny_lm, beams, tokens):
    ids = S.build_prompt(tiny_lm.tokenizer, "The cat sat on", False, tiny_lm.context_window, tokens).token_ids
    tree = S.beam_search(tiny_lm, ids, beams, tokens).beam_tree
    check_layout(tree, beams + 1)
