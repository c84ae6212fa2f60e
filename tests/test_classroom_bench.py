"""benchmarks/classroom_bench.py at toy sizes: it starts the app, runs every scene with 3 users, and its JSON
says what the table says (every scene, positive ratios, and no failures: a truncated or mismatched result
counts as one, so this also fails while issue 15's lost images happen)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.classroom_bench import SCENES
from benchmarks.classroom_results import Completion, Failure, differences, failure_of, read_denoise, read_generate

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_the_bench_measures_every_scene_without_failures(tmp_path):
    out = tmp_path / "classroom.json"
    run = subprocess.run([sys.executable, "benchmarks/classroom_bench.py", "--users", "3", "--tokens", "4",
                          "--steps", "3", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [scene["scene"] for scene in report["scenes"]] == list(SCENES)
    for scene in report["scenes"]:
        assert scene["users"] == 3 and len(scene["latencies_s"]) == 3
        assert scene["alone_s"] > 0 and scene["slowest_s"] > 0 and scene["ratio"] > 0, scene
        assert math.isclose(scene["ratio"], scene["slowest_s"] / scene["alone_s"])
        assert scene["goal"] == (1.5 if scene["scene"].endswith("same") else 3.0)
        assert scene["failures"] == [], f"{scene['scene']}: {scene['failures']}"
    assert set(report["alone"]) == {"/generate", "/denoise"}
    assert all(len(lone["seconds"]) == 3 for lone in report["alone"].values())
    assert report["memory_mb"]["end"] > report["memory_mb"]["start"] > 0      # the server's pid was found
    for scene in SCENES:
        assert scene in run.stdout                                            # the table was printed


def test_results_are_read_whole_and_compared_exactly(tmp_path):
    """The checks the bench applies, on made-up results: a short PNG is a truncated file, one pixel off is a
    mismatch, a missing strategy is incomplete."""
    import numpy as np
    from PIL import Image

    def png(name: str, value: int) -> str:
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(path)
        return str(path)

    gallery = [{"image": png(f"step{i}", i), "caption": f"step {i + 1}"} for i in range(2)]
    first = read_denoise((png("a", 10), gallery, [999, 499]), steps=2)
    assert differences(first, read_denoise((png("b", 10), gallery, [999, 499]), steps=2)) == ""
    assert "final image differs (16 pixels, at most 1/255 apart)" in differences(
        first, read_denoise((png("c", 11), gallery, [999, 499]), steps=2))

    short = tmp_path / "short.png"
    short.write_bytes(Path(png("d", 10)).read_bytes()[:40])
    with pytest.raises(Exception) as raised:
        read_denoise((str(short), gallery, [999, 499]), steps=2)
    assert failure_of(0, raised.value) == Failure(0, "truncated", failure_of(0, raised.value).message)
    assert "the final image short.png (40 bytes) does not decode" in failure_of(0, raised.value).message

    row = {"strategy": "greedy", "text": "The sun", "token_ids": [504, 3484]}
    rows = read_generate({"results": [row, {**row, "strategy": "top_p"}]}, tokens=4, strategies=2)
    assert rows[0] == Completion("greedy", "The sun", (504, 3484))
    other = read_generate({"results": [row, {**row, "strategy": "top_p", "text": "The sea", "token_ids": [504, 5]}]}, 4, 2)
    assert differences(rows, rows) == "" and differences(rows, other) == "top_p: 'The sun' vs 'The sea'"
    with pytest.raises(Exception, match="1 strategy results, expected 2"):
        read_generate({"results": [row]}, tokens=4, strategies=2)
    assert failure_of(3, RuntimeError("peer closed connection without sending complete message body")).kind == "truncated"
