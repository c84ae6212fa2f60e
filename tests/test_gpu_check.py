"""benchmarks/gpu_check.py on the CPU at toy sizes (--quick): the GPU check must work before it travels to a GPU
machine, where device time is scarce. It runs as a separate process, as on the GPU machine."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
SECTIONS = ["decoding correctness", "attention correctness", "diffusion correctness", "sampling speed",
            "attention speed", "diffusion speed"]
DECODERS = ["smollm2-135m", "gemma-3-270m"]


def run_check(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for key in ("PLAYGROUND_DEVICE", "PLAYGROUND_DTYPE", "PLAYGROUND_PUBLIC"):
        env.pop(key, None)
    return subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check") / "check.json"
    done = run_check(out)
    assert out.is_file(), done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8")), done


def test_every_section_ran_and_the_process_succeeded(quick):
    report, done = quick
    assert [(s["name"], s["status"]) for s in report["sections"]] == [(name, "done") for name in SECTIONS], \
        done.stderr[-4000:]
    assert report["skipped"] == []
    assert done.returncode == 0
    assert "checks passed" in done.stdout and report["environment"]["torch"]


def test_every_correctness_check_passed(quick):
    report, _ = quick
    failed = [c for c in report["checks"] if not c["passed"]]
    assert not failed, failed
    names = {(c["name"], c["model"], c["dtype"]) for c in report["checks"]}
    for model in DECODERS:
        for dtype in ("float32", "bfloat16"):
            assert ("greedy = model.generate", model, dtype) in names
            assert ("beam x3 = model.generate", model, dtype) in names
            assert ("row alone = beside 3 strategies", model, dtype) in names
            assert ("row 9 of 16 = alone with seed + 9", model, dtype) in names
            assert ("run_attention = eager output_attentions", model, dtype) in names
    for dtype in ("float32", "float16"):
        assert ("loop = pipeline (DDIM)", "tiny-shapes-sd", dtype) in names
        assert ("loop = pipeline (Euler ancestral)", "tiny-shapes-sd", dtype) in names
    assert ("loop = pipeline (DDIM, SD 1.5 size)", "sd15-random", "float32") in names
    assert ("gradio never imported", "-", "-") in names
    assert report["passed"] is True


def test_every_figure_is_present_and_positive(quick):
    report, _ = quick
    figures = {f["name"]: f["value"] for f in report["figures"]}
    expected = [f"{model}: {rows}" for model in (*DECODERS, "llama-1b")
                for rows in ("1 row", "4 rows", "16 rows", "model.generate greedy", "16 rows / 1 row, time")]
    expected += [f"{model}: {what}" for model in DECODERS
                 for what in ("bare eager forward", "first heatmap (run_attention)", "first heatmap / forward")]
    expected += [f"SD 1.5 U-Net: {what}" for what in ("diffusers pipeline", "diffusers + VAE callback",
                                                      "ours, no previews", "ours, linear every step",
                                                      "ours, TAESD every step", "ours, full VAE every step")]
    expected += ["linear every step / no previews, time", "full VAE every step / diffusers + VAE callback, time",
                 "SD 1.5 U-Net call, 16 users (batch 32)", "U-Net call, 16 users in one batch / 1 user, time"]
    missing = [name for name in expected if name not in figures]
    assert not missing, missing
    bad = {name: value for name, value in figures.items() if not (math.isfinite(value) and value > 0)}
    assert not bad, bad
    units = {f["name"]: f["unit"] for f in report["figures"]}
    assert units["llama-1b: 16 rows"] == "tokens/s" and units["SD 1.5 U-Net: ours, no previews"] == "steps/s"


def test_the_check_never_imports_gradio(quick):
    report, _ = quick
    assert report["environment"]["gradio_imported"] is False


def test_a_spent_budget_skips_every_section_and_still_writes_the_table(tmp_path):
    out = tmp_path / "skipped.json"
    done = run_check(out, "--budget-seconds", "0.001", "--sections", "sampling speed,diffusion speed")
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [(s["name"], s["status"]) for s in report["sections"]] == [
        ("sampling speed", "skipped: time budget"), ("diffusion speed", "skipped: time budget")]
    assert report["figures"] == [] and done.returncode == 0
    assert "skipped: time budget" in done.stdout


def test_the_verdicts_can_fail():
    sys.path.insert(0, str(ROOT))
    from benchmarks import gpu_correctness as G

    assert G.rows_detail(([1, 2, 3], [-1.0, -2.0, -3.0]), ([1, 2, 3], [-1.0, -2.0, -3.0]), "float32")[0]
    # parting after a drift within rounding is rounding; after whole nats it is a row reading another's state
    assert G.rows_detail(([1, 2, 3], [-1.0, -2.0, -3.0]), ([1, 2, 4], [-1.05, -2.0, -3.0]), "bfloat16")[0]
    assert not G.rows_detail(([1, 2, 3], [-1.0, -2.0, -3.0]), ([1, 2, 4], [-2.5, -2.0, -3.0]), "bfloat16")[0]
    assert not G.rows_detail(([1, 2, 3], [-1.0, -2.0, -3.0]), ([1, 2, 4], [-1.01, -2.0, -3.0]), "float32")[0]
    assert not G.compare_tokens([1, 2, 3], [1, 2, 4], (), "float32")[0]
    assert G.compare_tokens([1, 2], [1, 2], (), "float32", ([-0.5, -0.7], [-0.5, -0.7]))[0]
    # the same tokens from another distribution (a stale cache can keep the argmax): not equal
    assert not G.compare_tokens([1, 2], [1, 2], (), "float32", ([-0.5, -0.7], [-0.5, -1.7]))[0]
    image = np.zeros((8, 8, 3), np.uint8)
    latents = np.zeros((4, 1, 1), np.float32)
    assert G.pixels_match(image, image, latents, "float16")[0]
    assert not G.pixels_match(image, image + 9, latents, "float16")[0]
    assert not G.pixels_match(image, image, latents + np.nan, "float16")[0]
