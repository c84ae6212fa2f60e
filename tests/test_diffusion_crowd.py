"""A class asking /denoise at once (issue 14): the same requests run alone and from many threads at once give
the same pictures. Identical requests share one run (exactly the lone run's pixels); requests that differ in
seed or prompt share each U-Net call (a batch of rows rounds a float32 U-Net output differently from a lone run
by about 1e-6, which moves a few 0-255 values by 1: at most 1, in under 1% of a picture's values here)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from playground import diffusion as D
from playground.crowd import Crowd
from playground.shared import SharedRuns
from tests.tiny_diffusion import build_tiny_pipeline

PROMPT = "a small red circle above a large blue square"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return D.load_pipeline(str(build_tiny_pipeline(tmp_path_factory.mktemp("pipelines") / "tiny-sd")))


@pytest.fixture()
def fresh(monkeypatch):
    """Empty shared runs and a crowd that gathers long enough for threads started together."""
    from playground.diffusion import together

    monkeypatch.setattr(together, "RUNS", SharedRuns(max_runs=8))
    monkeypatch.setattr(together, "CROWD", Crowd(gather_seconds=0.5))
    return together


def at_once(calls):
    """Run the calls from threads released together; their results in order (an exception is re-raised)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def work(k, call):
        barrier.wait()
        try:
            results[k] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            results[k] = error

    threads = [threading.Thread(target=work, args=(k, call)) for k, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def gap(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(max |difference| in 0-255, fraction of values that differ)."""
    d = np.abs(a.astype(int) - b.astype(int))
    return int(d.max()), float((d > 0).mean())


def assert_close(together, alone):
    """Steps and result of a batched run against its lone run: timesteps equal, every picture within 1 of 255,
    in under 1% of its values (this random pipeline's noise pictures: up to 0.2%; tiny-shapes-sd's: 0.003% of
    the final images' values and 0.03% of the previews', README "A class on one server")."""
    (steps, result), (lone_steps, lone_result) = together, alone
    assert result.timesteps == lone_result.timesteps
    assert [s.timestep for s in steps] == [s.timestep for s in lone_steps]
    pictures = [(result.image, lone_result.image)] + [
        (getattr(s, name), getattr(t, name)) for s, t in zip(steps, lone_steps) for name in ("x_t", "x0", "noise")
        if getattr(t, name) is not None]
    for got, expected in pictures:
        assert got is not None and got.shape == expected.shape
        biggest, share = gap(got, expected)
        assert biggest <= 1 and share < 1e-2, (biggest, share)


@pytest.mark.parametrize("scheduler", ["DDIM", "Euler ancestral", "DPM-Solver++ 2M", "PNDM"])
def test_rows_of_a_batch_are_their_lone_runs(tiny, scheduler):
    """Each row keeps its own generator (initial latents, ancestral noise) and its own scheduler (history)."""
    rows = [D.DenoiseSettings(prompt=prompt, steps=4, guidance_scale=g, seed=seed, scheduler=scheduler,
                              preview_every=1, show_noise=True)
            for prompt, g, seed in ((PROMPT, 6.0, 1), ("green", 6.0, 2), (PROMPT, 3.0, 3))]
    items = list(D.denoise_rows(tiny, rows))
    for r, settings in enumerate(rows):
        assert_close(([step[r] for step in items[:-1]], items[-1][r]), D.generate(tiny, settings))
    assert not np.array_equal(items[-1][0].image, items[-1][2].image)


def test_one_row_is_exactly_the_lone_loop(tiny):
    settings = D.DenoiseSettings(prompt=PROMPT, steps=3, seed=4, scheduler="Euler ancestral")
    items = list(D.denoise_rows(tiny, [settings]))
    assert np.array_equal(items[-1][0].image, D.generate(tiny, settings)[1].image)


def test_leaving_out_the_x_t_previews_leaves_the_x0_previews_and_the_image(tiny):
    """The API asks for no x_t previews: the VAE then decodes x0 and noise alone, a smaller batch, so within the
    batch rule above; the final image, decoded on its own, is exactly the same."""
    full = D.DenoiseSettings(prompt=PROMPT, steps=3, seed=4, scheduler="DDIM", preview="vae", show_noise=True)
    (steps, result), (lean_steps, lean_result) = D.generate(tiny, full), D.generate(tiny, replace(full, show_x_t=False))
    assert all(s.x_t is not None for s in steps) and all(s.x_t is None for s in lean_steps)
    for a, b in zip(steps, lean_steps):
        for name in ("x0", "noise"):
            biggest, share = gap(getattr(a, name), getattr(b, name))
            assert biggest <= 1 and share < 1e-2, (name, biggest, share)
    assert np.array_equal(result.image, lean_result.image)


def test_rows_with_other_steps_or_schedulers_are_refused(tiny):
    with pytest.raises(ValueError, match="differ only in prompt"):
        list(D.denoise_rows(tiny, [D.DenoiseSettings(steps=3), D.DenoiseSettings(steps=4)]))
    assert D.batch_key(tiny, D.DenoiseSettings(seed=1, prompt="a")) == D.batch_key(tiny, D.DenoiseSettings(seed=2))
    assert D.batch_key(tiny, D.DenoiseSettings(guidance_scale=1.0)) != D.batch_key(tiny, D.DenoiseSettings())


def test_identical_requests_at_once_are_computed_once_and_are_the_lone_run(tiny, fresh):
    settings = D.DenoiseSettings(prompt=PROMPT, steps=3, seed=9, scheduler="DDIM")
    alone = D.generate(tiny, settings)
    results = at_once([lambda: D.generate_together(tiny, settings)] * 6)
    assert fresh.RUNS.started == 1
    for steps, result in results:
        assert np.array_equal(result.image, alone[1].image)
        assert all(np.array_equal(s.x0, t.x0) for s, t in zip(steps, alone[0]))
    D.generate_together(tiny, settings)              # asked again later: replayed from the cache
    assert fresh.RUNS.started == 1


def test_different_seeds_at_once_share_a_batch_and_give_their_lone_pictures(tiny, fresh):
    runs = [D.DenoiseSettings(prompt=PROMPT if seed % 2 else "blue", steps=3, seed=seed, scheduler="Euler ancestral")
            for seed in range(6)]
    results = at_once([lambda s=s: D.generate_together(tiny, s) for s in runs])
    assert max(fresh.CROWD.batches) > 1                      # they met in one U-Net batch
    for settings, together in zip(runs, results):
        assert_close(together, D.generate(tiny, settings))
    assert len({r[1].image.tobytes() for r in results}) == len(runs)


def test_stop_ends_only_that_users_run(tiny, fresh):
    runs = [D.DenoiseSettings(prompt=PROMPT, steps=5, seed=seed, scheduler="DDIM") for seed in range(3)]
    seen = []

    def stopper():
        stream = D.denoise_together(tiny, runs[0])
        seen.append(next(stream))
        stream.close()                                     # Stop: this user's stream ends after one step
        return None

    results = at_once([stopper] + [lambda s=s: D.generate_together(tiny, s) for s in runs[1:]])
    assert len(seen) == 1 and isinstance(seen[0], D.DenoisingStep)
    for settings, together in zip(runs[1:], results[1:]):
        assert len(together[0]) == 5
        assert_close(together, D.generate(tiny, settings))


def test_each_user_sees_their_own_attention_and_guidance_panels(tiny, fresh):
    runs = [D.DenoiseSettings(prompt=prompt, steps=3, seed=seed, attention_step=1, guidance_step=2)
            for prompt, seed in ((PROMPT, 0), ("a green square", 1))]
    results = at_once([lambda s=s: D.generate_together(tiny, s) for s in runs])
    for settings, (steps, result) in zip(runs, results):
        lone_steps, _ = D.generate(tiny, settings)
        assert steps[1].attention.tokens == lone_steps[1].attention.tokens
        assert np.allclose(steps[1].attention.maps, lone_steps[1].attention.maps, atol=1e-4)
        assert abs(steps[2].guidance.difference_norm - lone_steps[2].guidance.difference_norm) < 1e-4


def test_a_bad_request_fails_alone_before_joining(tiny, fresh):
    with pytest.raises(ValueError, match="steps = 0"):
        D.generate_together(tiny, D.DenoiseSettings(steps=0))
    assert fresh.RUNS.started == 0


def test_the_replay_cache_is_bounded_in_bytes():
    runs = SharedRuns(max_runs=10, max_bytes=100, size_of=lambda items: 40 * len(items))
    for name in "abc":
        list(runs.stream(name, lambda: iter([1])))         # 40 bytes each: the third pushes the first out
    assert runs.started == 3
    list(runs.stream("a", lambda: iter([1])))
    assert runs.started == 4                               # "a" was dropped, so it ran again
    list(runs.stream("c", lambda: iter([1])))
    assert runs.started == 4                               # "c" was still kept


def test_a_run_is_computed_as_its_reader_takes_it():
    """With a lookahead a run computes at most that many items ahead of its furthest reader, so a lone user's
    Stop lands where they are, as it did when the loop ran in their own thread."""
    import time

    made = []

    def count():
        for k in range(100):
            made.append(k)
            yield k

    runs = SharedRuns(lookahead=2)
    stream = runs.stream("count", count)
    assert next(stream) == 0
    time.sleep(0.2)
    assert len(made) <= 4                                  # not 100: it waits for the reader
    stream.close()                                         # Stop: the run ends, and is not kept
    time.sleep(0.2)
    assert len(made) <= 4 and runs.started == 1
