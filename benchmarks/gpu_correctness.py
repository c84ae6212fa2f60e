"""The correctness half of benchmarks/gpu_check.py: the Playground's own code against the reference libraries,
on the device and in the dtype of the app's settings, on random-weight models of the embedded models' shapes.

Each section takes the run (benchmarks/gpu_check.py's Run: sizes, the random models' folders, the results) and
records checks with run.check(section, name, model, dtype, passed, detail):
  greedy = generate      playground.sampling.compare's greedy tokens == model.generate(do_sample=False), and their
                         log-probabilities == those of generate's scores (up to rounding, ROUNDING_NATS)
  beam = generate        its beam search == model.generate(num_beams=4)
  rows independent       a sampled row gives the same tokens alone, beside 3 other strategies, and as row j of 16,
                         or tokens that part only after its log-probabilities drifted by rounding (ROUNDING_NATS:
                         a matrix product rounds differently for 1 and 16 rows, most of all in half precision)
  attention = eager      playground.attention.run_attention's weights == model(output_attentions=True), eager
  loop = pipeline        playground.diffusion's image == StableDiffusionPipeline's, pixels within PIXEL_TOLERANCE

    >>> rows_detail(([5, 7], [-0.1, -0.2]), ([5, 7], [-0.1, -0.2]), "float32")
    (True, '2 tokens identical; log p drift 0')
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from playground import attention as A
from playground import diffusion as D
from playground import sampling as S
from playground.cache import CACHE
from playground.device import pick_device
from playground.models import load_model

if TYPE_CHECKING:
    from benchmarks.gpu_check import Run

CHECK_DECODERS = ("smollm2-135m", "gemma-3-270m")
SCHEDULERS = ("DDIM", "Euler ancestral", "DPM-Solver++ 2M")
SHAPES_PROMPT = "a small red circle above a large blue square on a white background"
NUCLEUS = {"name": "top_p", "p": 0.95, "temperature": 1.3}

ATTENTION_TOLERANCE = {"float32": 1e-6, "bfloat16": 2**-8, "float16": 2**-11}   # max |weight difference|
PIXEL_TOLERANCE = {"float32": (1, 0.01), "float16": (4, 0.5), "bfloat16": (8, 1.0)}  # (max, mean) |0-255 difference|
# Log-probability differences (nats) that rounding makes: two tokens this close can swap, and a row whose
# log-probabilities drift by no more than this beside other rows differs from its lone run by rounding only.
ROUNDING_NATS = {"float32": 1e-3, "bfloat16": 0.25, "float16": 0.05}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reset_app(free_gpu: bool = False) -> None:
    CACHE.clear()
    A.RESULTS.clear()
    if free_gpu and torch.cuda.is_available():   # a full collection takes most of a second: only where it pays
        gc.collect()
        torch.cuda.empty_cache()


@contextlib.contextmanager
def app_settings(device: str, dtype: str):
    """The app's own settings (PLAYGROUND_DEVICE, PLAYGROUND_DTYPE) for a block, its caches emptied before and
    after, so that models load afresh, through the app, on that device in that dtype."""
    saved = {key: os.environ.get(key) for key in ("PLAYGROUND_DEVICE", "PLAYGROUND_DTYPE")}
    os.environ.update(PLAYGROUND_DEVICE=device, PLAYGROUND_DTYPE=dtype)
    reset_app()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_app()


def words(tokenizer: Any, count: int, seed: int) -> str:
    """A text of `count` random words of a random model's word tokenizer (no special token): `count` tokens."""
    special = set(tokenizer.all_special_ids)
    rng = np.random.default_rng(seed)
    ids = [int(i) for i in rng.integers(8, len(tokenizer), 2 * count) if int(i) not in special][:count]
    return " ".join(tokenizer.convert_ids_to_tokens(ids))


def end_tokens(lm: Any) -> set[int]:
    eos = lm.model.generation_config.eos_token_id
    return set() if eos is None else {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}


def generate_new(lm: Any, prompt_ids: tuple[int, ...], new_tokens: int, **kwargs) -> list[int]:
    """model.generate's new tokens, up to and including the first end token (as the app returns them)."""
    return _generate(lm, prompt_ids, new_tokens, **kwargs)[0]


def generate_greedy(lm: Any, prompt_ids: tuple[int, ...], new_tokens: int) -> tuple[list[int], list[float]]:
    """model.generate's greedy tokens and the model's log-probability of each (from its scores)."""
    return _generate(lm, prompt_ids, new_tokens, do_sample=False, output_scores=True, return_dict_in_generate=True)


def _generate(lm: Any, prompt_ids: tuple[int, ...], new_tokens: int, **kwargs) -> tuple[list[int], list[float]]:
    ids = torch.tensor([list(prompt_ids)], device=lm.device)
    pad = lm.model.generation_config.pad_token_id
    with torch.inference_mode():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                pad_token_id=pad if pad is not None else next(iter(end_tokens(lm)), 0), **kwargs)
    sequences = out.sequences if kwargs.get("return_dict_in_generate") else out
    new = [int(t) for t in sequences[0, ids.shape[1]:].tolist()]
    ends = end_tokens(lm)
    new = new[:next((i + 1 for i, t in enumerate(new) if t in ends), len(new))]
    scores = getattr(out, "scores", None) or ()
    logprobs = [float(torch.log_softmax(step[0].float(), dim=-1)[token]) for step, token in zip(scores, new)]
    return new, logprobs


def compare_tokens(ours: list[int], reference: list[int], steps: tuple, dtype: str,
                   logprobs: tuple[list[float], list[float]] | None = None) -> tuple[bool, str]:
    """(passed, detail): the same tokens (and, given both runs' log-probabilities of them, the same up to rounding);
    else where the lists part, and how far apart the two tokens were in our run's own distribution at that step
    (a near-tie that rounding can swap, or a real difference)."""
    ours, reference = list(ours), list(reference)
    if ours == reference:
        if logprobs is None:
            return True, f"{len(ours)} tokens identical"
        drift = max((abs(a - b) for a, b in zip(*logprobs)), default=0.0)
        return drift <= ROUNDING_NATS[dtype], (f"{len(ours)} tokens identical; their log p differ by at most "
                                               f"{drift:.2g} (rounding: {ROUNDING_NATS[dtype]:g})")
    k = next((i for i, (a, b) in enumerate(zip(ours, reference)) if a != b), min(len(ours), len(reference)))
    detail = f"part at token {k} ({len(ours)} vs {len(reference)} tokens)"
    if k < min(len(ours), len(reference)) and k < len(steps):
        model_stage = steps[k].stages[0]
        candidates = dict(zip(model_stage.token_ids.tolist(), model_stage.probs.tolist()))
        if reference[k] in candidates and ours[k] in candidates:
            margin = math.log(candidates[ours[k]]) - math.log(candidates[reference[k]])
            tie = f", a near-tie that {dtype} rounding can swap" if abs(margin) <= ROUNDING_NATS[dtype] else ""
            detail += f": ours t{ours[k]}, reference t{reference[k]}, {margin:.3g} nats apart{tie}"
        else:
            detail += f": the reference's t{reference[k]} is not among our top {len(candidates)}"
    return False, detail


def collect_rows(batches) -> tuple[list[list[int]], list[list[float]]]:
    """Tokens and model log-probabilities per row from sample_steps' StepBatches."""
    tokens: list[list[int]] = []
    logprobs: list[list[float]] = []
    for batch in batches:
        if not tokens:
            tokens = [[] for _ in batch.token_ids]
            logprobs = [[] for _ in batch.token_ids]
        for r, token in enumerate(batch.token_ids.tolist()):
            if token >= 0:
                tokens[r].append(token)
                logprobs[r].append(float(batch.logprobs[r]))
    return tokens, logprobs


def rows_detail(alone: tuple[list[int], list[float]], crowd: tuple[list[int], list[float]],
                dtype: str) -> tuple[bool, str]:
    """A row beside others must be its lone run: the same tokens, or (since a matrix product's rounding depends on
    how many rows it has) tokens that part only after its log-probabilities drifted by rounding alone. A row that
    read another row's cache or generator would drift by whole nats."""
    same = alone[0] == crowd[0]
    common = next((i for i, (a, b) in enumerate(zip(alone[0], crowd[0])) if a != b), min(len(alone[0]), len(crowd[0])))
    drift = max((abs(a - b) for a, b in zip(alone[1][:common], crowd[1][:common])), default=0.0)
    bound = ROUNDING_NATS[dtype]
    if same:
        return True, f"{len(alone[0])} tokens identical; log p drift {drift:.2g}"
    return drift <= bound, (f"tokens part at token {common} of {len(alone[0])}, after a log p drift of {drift:.2g} "
                            f"({'within' if drift <= bound else 'beyond'} {dtype} rounding, {bound:g})")


def reference_pipeline(loaded: Any):
    """diffusers' own StableDiffusionPipeline on freshly loaded copies of the same components (stock attention)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(loaded.path, dtype=loaded.dtype, safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.to(loaded.device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def diffusers_image(reference: Any, loaded: Any, scheduler: str, seed: int, callback=None, **call) -> np.ndarray:
    reference.scheduler = D.make_scheduler(loaded, scheduler)
    out = reference(generator=torch.Generator(loaded.device).manual_seed(seed), output_type="np",
                    callback_on_step_end=callback, **call)
    return (out.images[0] * 255).round().astype(np.uint8)


def pixels_match(ours: np.ndarray, expected: np.ndarray, latents: np.ndarray, dtype: str) -> tuple[bool, str]:
    top, mean = PIXEL_TOLERANCE[dtype]
    delta = np.abs(ours.astype(np.int16) - expected.astype(np.int16))
    finite = bool(np.isfinite(latents).all())
    passed = finite and ours.shape == expected.shape and delta.max() <= top and delta.mean() <= mean
    return passed, (f"{ours.shape[0]}x{ours.shape[1]}: max |Δ| {int(delta.max())}, mean {delta.mean():.3f} of 255 "
                    f"(tolerance {top} / {mean}); {100 * (delta == 0).mean():.1f}% of values identical"
                    + ("" if finite else "; latents not finite"))


# ----------------------------------------------------------------------------------------------- correctness


def check_decoding(run: Run) -> None:
    size = run.sizes
    for name in CHECK_DECODERS:
        folder = run.decoder(name)
        for dtype in ("float32", run.half):
            with app_settings(run.device, dtype):
                lm = load_model(folder)
                prompt = words(lm.tokenizer, size.prompt_tokens, seed=1)
                both = S.compare(folder, prompt, [{"name": "greedy"}, {"name": "beam", "num_beams": size.beams}],
                                 size.check_tokens, seed=0, chat=False)
                ids = both.prompt.token_ids
                greedy, beam = both.results
                reference, reference_logprobs = generate_greedy(lm, ids, size.check_tokens)
                run.check("decoding", "greedy = model.generate", name, dtype, *compare_tokens(
                    list(greedy.token_ids), reference, greedy.steps, dtype,
                    (list(greedy.token_logprobs), reference_logprobs)))
                run.check("decoding", f"beam x{size.beams} = model.generate", name, dtype, *compare_tokens(
                    list(beam.token_ids), generate_new(lm, ids, size.check_tokens, do_sample=False,
                                                       num_beams=size.beams), (), dtype))
                check_rows(run, name, dtype, lm, folder, prompt, ids)


def check_rows(run: Run, name: str, dtype: str, lm: Any, folder: str, prompt: str, ids: tuple[int, ...]) -> None:
    """A sampled row's tokens don't depend on the rows beside it: alone, among 3 other strategies, as row j of 16."""
    n = run.sizes.check_tokens
    alone = S.compare(folder, prompt, [NUCLEUS], n, seed=7, chat=False).results[0]
    crowd = S.compare(folder, prompt, [{"name": "top_k", "k": 3}, {"name": "greedy"}, NUCLEUS,
                                       {"name": "typical", "mass": 0.5}], n, seed=7, chat=False).results[2]
    run.check("decoding", "row alone = beside 3 strategies", name, dtype, *rows_detail(
        (list(alone.token_ids), list(alone.token_logprobs)), (list(crowd.token_ids), list(crowd.token_logprobs)),
        dtype))
    nucleus = S.parse_strategies([NUCLEUS])
    sixteen = collect_rows(S.sample_steps(lm, ids, nucleus, n, seed=7, samples=16, record=False))
    for j in (0, 9):
        single = collect_rows(S.sample_steps(lm, ids, nucleus, n, seed=7 + j, record=False))
        run.check("decoding", f"row {j} of 16 = alone with seed + {j}", name, dtype,
                  *rows_detail((single[0][0], single[1][0]), (sixteen[0][j], sixteen[1][j]), dtype))


def check_attention(run: Run) -> None:
    for name in CHECK_DECODERS:
        folder = run.decoder(name)
        float32_weights = None
        for dtype in ("float32", run.half):
            with app_settings(run.device, dtype):
                loaded = load_model(folder, attn_implementation="eager")
                result = A.run_attention(words(loaded.tokenizer, run.sizes.attention_check_tokens, 2), folder)
                ids = torch.tensor([result.token_ids], device=loaded.device)
                with torch.inference_mode():
                    out = loaded.model(input_ids=ids, output_attentions=True)
                reference = np.stack([a[0].float().cpu().numpy() for a in out.attentions])   # (L, H, T, T)
            same_shape = result.weights.shape == reference.shape
            delta = float(np.abs(result.weights - reference).max()) if same_shape else math.inf
            above = float(np.abs(np.triu(result.weights, k=1)).max())     # a decoder attends to no later token
            detail = (f"{'x'.join(map(str, result.weights.shape))} weights: max |Δ| {delta:.2g} (tolerance "
                      f"{ATTENTION_TOLERANCE[dtype]:.2g}); largest weight on a later token {above:.2g}")
            if float32_weights is None:
                float32_weights = result.weights
            else:
                detail += f"; max |{dtype} - float32| {float(np.abs(result.weights - float32_weights).max()):.2g}"
            run.check("attention", "run_attention = eager output_attentions", name, dtype,
                      delta <= ATTENTION_TOLERANCE[dtype] and above == 0, detail)


def check_diffusion(run: Run) -> None:
    folder = run.tiny_shapes()
    steps, side = run.sizes.diffusion_check_steps, run.sizes.shapes_side
    for dtype in ("float32", "float16"):
        with app_settings(run.device, dtype):
            loaded = D.load_pipeline(folder)
            reference = reference_pipeline(loaded)
            for scheduler in SCHEDULERS[:run.sizes.schedulers]:
                # previews don't change the image; the full VAE's, on the last step only, need no linear fit
                settings = D.DenoiseSettings(prompt=SHAPES_PROMPT, steps=steps, guidance_scale=5.0, seed=7,
                                             scheduler=scheduler, preview="vae", preview_every=steps,
                                             height=side, width=side)
                _, result = D.generate(loaded, settings)
                expected = diffusers_image(reference, loaded, scheduler, 7, prompt=SHAPES_PROMPT,
                                           num_inference_steps=steps, guidance_scale=5.0, height=side, width=side)
                run.check("diffusion", f"loop = pipeline ({scheduler})", "tiny-shapes-sd", dtype,
                          *pixels_match(result.image, expected, result.latents, dtype))
            del reference


