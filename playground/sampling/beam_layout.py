"""Where each node of a beam search tree is drawn: rows ("lanes") that each kept beam keeps.

A beam search keeps n partial texts (beams); at every step each is extended by its best tokens and the n best
extensions are kept. Drawn naively (one row per rank) a beam jumps between rows whenever its rank changes and
the lines criss-cross. Here a beam keeps its row for as long as it lives: a node inherits its parent's lane,
the returned sequence has lane 0 to itself (one straight line), a beam that splits sends its second child to
the nearest free lane, and candidates that were pruned (or ended with no free lane) are not given a lane at
all: the view draws them as short stubs off their parent.

    >>> from playground.sampling.records import BeamNode, BeamTree
    >>> tree = BeamTree(2, (BeamNode(0, -1, 0, 11, "The", -0.2, -0.2, "kept", True),
    ...                     BeamNode(1, -1, 0, 12, "A", -1.9, -1.9, "kept", False),
    ...                     BeamNode(2, -1, 0, 13, '"', -2.5, -2.5, "pruned", False),
    ...                     BeamNode(3, 1, 1, 14, " cat", -0.3, -2.2, "kept", False),
    ...                     BeamNode(4, 0, 1, 15, " sea", -2.1, -2.3, "kept", True),
    ...                     BeamNode(5, 0, 1, 16, " dog", -2.4, -2.6, "pruned", False)))
    >>> layout = layout_beam_tree(tree)
    >>> layout.lane_of       # node id -> lane; None: a stub off its parent
    (0, 1, None, 1, 0, None)
    >>> layout.lanes, layout.steps
    (2, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

from playground.sampling.records import BeamNode, BeamTree

__all__ = ["ROOT", "BeamLayout", "layout_beam_tree"]

ROOT = -1   # the parent id of the first step's candidates: the prompt, drawn on lane 0


@dataclass(frozen=True)
class BeamLayout:
    lanes: int                          # rows the drawing needs (the beam width, more only when a step needs it)
    steps: int                          # columns: steps of the search
    lane_of: tuple[int | None, ...]     # (len(tree.nodes),) lane of each node; None: a stub drawn off its parent

    def parent_lane(self, node: BeamNode) -> int:
        """The lane a node's line starts from (the prompt sits on lane 0)."""
        return 0 if node.parent == ROOT else self.lane_of[node.parent]


def _priority(node: BeamNode) -> tuple:
    """Who claims a lane first: the returned sequence, then beams that go on, then ended ones; best score first."""
    return (not node.on_output, node.status != "kept", -node.score)


def layout_beam_tree(tree: BeamTree) -> BeamLayout:
    """Lanes for every kept or finished node, step by step (see the module docstring)."""
    lane_of: list[int | None] = [None] * len(tree.nodes)
    by_step: dict[int, list[BeamNode]] = {}
    for node in tree.nodes:
        by_step.setdefault(node.step, []).append(node)
    lanes = 1
    first_free = 1 if any(n.on_output for n in tree.nodes) else 0   # lane 0 belongs to the returned sequence
    for step in sorted(by_step):
        placeable = sorted((n for n in by_step[step] if n.status != "pruned"), key=_priority)
        taken: set[int] = set()
        waiting: list[BeamNode] = []
        for node in placeable:                       # 1. the first child of each beam stays on its row
            lane = 0 if node.parent == ROOT else lane_of[node.parent]
            if lane is not None and lane not in taken and (lane >= first_free or node.on_output):
                lane_of[node.id] = lane
                taken.add(lane)
            else:
                waiting.append(node)
        # 2. a second child moves to the nearest free row (kept ones may open a new row; ended ones become stubs)
        waiting.sort(key=lambda n: (n.status != "kept", 0 if n.parent == ROOT else lane_of[n.parent], -n.score))
        for node in waiting:
            origin = 0 if node.parent == ROOT else lane_of[node.parent]
            free = [lane for lane in range(first_free, lanes) if lane not in taken]
            if free:
                lane = min(free, key=lambda lane: (abs(lane - origin), lane))
            elif node.status == "kept":
                lane, lanes = lanes, lanes + 1
            else:
                continue
            lane_of[node.id] = lane
            taken.add(lane)
    return BeamLayout(lanes, max(by_step, default=-1) + 1, tuple(lane_of))
