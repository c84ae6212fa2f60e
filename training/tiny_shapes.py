"""tiny-shapes-sd: a Stable Diffusion in miniature, trained from nothing on the shapes of `playground.shapes`.

The same parts as Stable Diffusion, from diffusers: an AutoencoderKL (64 x 64 x 3 images <-> 16 x 16 x 4
latents), a UNet2DConditionModel that predicts the noise with cross-attention to the text, a noise
scheduler, and the embedded all-MiniLM-L6-v2 as the frozen text encoder (its token states are the
context, as a frozen T5's are in Imagen). Training goes in two stages, each resumable from its checkpoint:

    >>> settings = PRESETS["smoke"]                    # a few steps: what tests/test_tiny_shapes.py runs
    >>> summary = train(settings, workdir=Path("/tmp/shapes-run"), out=Path("/tmp/tiny-shapes-sd"))  # doctest: +SKIP
    >>> # 1. the VAE on drawn images, 2. a pool of latents, 3. the U-Net on the pool, 4. the pipeline folder
    >>> report, images = evaluate(Path("/tmp/tiny-shapes-sd"), prompts=200)  # doctest: +SKIP
    >>> report.colour, report.shape, report.position  # doctest: +SKIP

(The examples are skipped as doctests: training and evaluating take minutes; the tests run them at toy sizes.)

`scripts/train_tiny_shapes.py` and `scripts/evaluate_tiny_shapes.py` are the command lines.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from playground import shapes

Log = Callable[[str], None]

MAX_TOKENS = 32                 # the tokenizer's model_max_length: every caption fits, with room to spare
PIPELINE_FOLDER = Path(__file__).resolve().parent.parent / "assets" / "models" / "tiny-shapes-sd"


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 0
    vae_steps: int = 700
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_kl: float = 1e-6             # Stable Diffusion's VAE keeps the KL term tiny too
    vae_widths: tuple = (16, 32, 64)
    pool: int = 40_000               # drawn scenes encoded once, the U-Net's training set
    unet_steps: int = 3_500
    unet_batch: int = 64
    unet_lr: float = 5e-4
    unet_widths: tuple = (32, 64, 128)
    warmup: int = 200
    ema_decay: float = 0.999
    prompt_dropout: float = 0.1      # so classifier-free guidance has an unconditional model to push from
    min_snr_gamma: float = 5.0       # Hang et al. 2023: cap each timestep's loss weight
    pair_share: float = 0.5
    checkpoint_every: int = 250
    threads: int = 0                 # torch CPU threads; 0 leaves torch's default


RESUMABLE_CHANGES = {"vae_steps", "unet_steps", "threads", "checkpoint_every"}

PRESETS = {
    "cpu": TrainSettings(),
    "gpu": TrainSettings(vae_steps=3_000, vae_batch=64, pool=200_000, unet_steps=30_000, unet_batch=256,
                         unet_lr=4e-4, unet_widths=(64, 128, 256), warmup=500, ema_decay=0.9995,
                         checkpoint_every=1_000),
    "smoke": TrainSettings(vae_steps=6, vae_batch=4, pool=64, unet_steps=6, unet_batch=8, unet_widths=(16, 32, 32),
                           vae_widths=(8, 16, 16), warmup=2, checkpoint_every=3),
}


# ----------------------------------------------------------------------------------------------
# The parts


def build_vae(settings: TrainSettings):
    from diffusers import AutoencoderKL

    widths = tuple(settings.vae_widths)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
                         down_block_types=("DownEncoderBlock2D",) * len(widths),
                         up_block_types=("UpDecoderBlock2D",) * len(widths), block_out_channels=widths,
                         norm_num_groups=8, sample_size=shapes.SIZE)


def build_unet(settings: TrainSettings, latent_size: int):
    from diffusers import UNet2DConditionModel

    widths = tuple(settings.unet_widths)
    return UNet2DConditionModel(
        sample_size=latent_size, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=widths,
        # Cross-attention where it is cheap (16 -> 8 -> 4 latents: at 8 x 8 and 4 x 4), as in SD's lower blocks.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=384, attention_head_dim=4, norm_num_groups=16,
    )


def build_scheduler():
    """DDPM's linear betas: at 16 x 16 latents SD's scaled-linear schedule leaves the mean colour visible at t=999."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1, timestep_spacing="trailing",
                         prediction_type="epsilon")


def load_text_encoder(device: str):
    """The embedded MiniLM and its tokenizer, cut at MAX_TOKENS as the pipeline will cut prompts."""
    from transformers import AutoModel, AutoTokenizer

    from playground.catalog import resolve
    from playground.registry import DEFAULT_ENCODER

    path = resolve(DEFAULT_ENCODER).path
    tokenizer = AutoTokenizer.from_pretrained(path, model_max_length=MAX_TOKENS)
    # The saved tokenizer.json records the backend's last padding and truncation; set them as the pipeline
    # calls it, so the file is the same whether or not this process tokenized anything before saving.
    tokenizer.backend_tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.backend_tokenizer.enable_padding(length=MAX_TOKENS, pad_id=tokenizer.pad_token_id,
                                               pad_token=tokenizer.pad_token)
    encoder = AutoModel.from_pretrained(path).to(device).eval().requires_grad_(False)
    return tokenizer, encoder


def encode_text(tokenizer, encoder, captions: list[str]):
    """(B, MAX_TOKENS, 384) token states, exactly as StableDiffusionPipeline.encode_prompt makes them."""
    import torch

    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids.to(encoder.device)
    with torch.no_grad():
        return encoder(ids)[0]


# ----------------------------------------------------------------------------------------------
# Checkpoints


def _save(state: dict, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    torch.save(state, scratch)
    os.replace(scratch, path)


def _load(path: Path) -> dict | None:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None


def _resume(checkpoint: Path, parts: dict, stage: str, total: int, log: Log) -> tuple[int, list[float]]:
    """Load each part's state from `checkpoint` when there is one; returns (first step to run, losses so far)."""
    state = _load(checkpoint)
    if state is None:
        return 0, []
    for name, part in parts.items():
        part.load_state_dict(state[name])
    log(f"{stage}: resuming at step {state['step']} of {total}")
    return state["step"], state["losses"]


def _lr(settings: TrainSettings, step: int, total: int, peak: float) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < settings.warmup:
        return peak * (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(total - settings.warmup, 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _images_to_tensor(images: np.ndarray, device: str):
    import torch

    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0   # (B, 3, 64, 64)


def _progress(total: int, initial: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, dynamic_ncols=True, mininterval=2.0)


# ----------------------------------------------------------------------------------------------
# 1. The VAE


def train_vae(settings: TrainSettings, workdir: Path, device: str, log: Log = print):
    import torch

    vae = build_vae(settings).to(device)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.vae_lr, weight_decay=0.0)
    checkpoint = workdir / "vae.pt"
    start, losses = _resume(checkpoint, {"model": vae, "optimizer": optimizer}, "VAE", settings.vae_steps, log)
    vae.train()
    bar = _progress(settings.vae_steps, start, "1/3 VAE")
    for step in range(start, settings.vae_steps):
        rng = np.random.default_rng([settings.seed, 1, step])          # the data of a step depends on its number only
        scenes = [shapes.sample_scene(rng, "train", settings.pair_share) for _ in range(settings.vae_batch)]
        images = _images_to_tensor(shapes.render_batch(scenes), device)
        generator = torch.Generator(device).manual_seed(settings.seed * 1_000_003 + step)
        posterior = vae.encode(images).latent_dist
        latents = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator,
                                                               device=device)
        reconstruction = vae.decode(latents).sample
        mse = torch.nn.functional.mse_loss(reconstruction, images)
        loss = mse + settings.vae_kl * posterior.kl().mean()
        for group in optimizer.param_groups:
            group["lr"] = _lr(settings, step, settings.vae_steps, settings.vae_lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(mse.item())
        bar.update(1)
        bar.set_postfix(mse=f"{np.mean(losses[-50:]):.4f}")
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.vae_steps:
            _save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": step + 1,
                   "losses": losses}, checkpoint)
    bar.close()
    return vae.eval().requires_grad_(False), losses


# ----------------------------------------------------------------------------------------------
# 2. A pool of latents to train the U-Net on


def encode_pool(settings: TrainSettings, vae, workdir: Path, device: str, log: Log = print) -> dict:
    """Draw `settings.pool` training scenes once and keep their latent distributions and captions."""
    import torch

    path = workdir / "pool.pt"
    pool = _load(path)
    if pool is not None and pool["size"] == settings.pool:
        return pool
    rng = np.random.default_rng([settings.seed, 2])
    captions, means, stds = [], [], []
    bar = _progress(settings.pool, 0, "2/3 latents")
    for begin in range(0, settings.pool, 256):
        scenes = [shapes.sample_scene(rng, "train", settings.pair_share)
                  for _ in range(min(256, settings.pool - begin))]
        with torch.no_grad():
            posterior = vae.encode(_images_to_tensor(shapes.render_batch(scenes), device)).latent_dist
        captions += [scene.caption for scene in scenes]
        means.append(posterior.mean.cpu())
        stds.append(posterior.std.cpu())
        bar.update(len(scenes))
    bar.close()
    mean, std = torch.cat(means), torch.cat(stds)                         # (N, 4, 16, 16) each
    noise = torch.randn(std.shape, generator=torch.Generator().manual_seed(settings.seed))
    scaling = float(1.0 / (mean + std * noise).std())                    # SD's 0.18215, measured for this VAE
    pool = {"size": settings.pool, "captions": captions, "mean": mean, "std": std, "scaling_factor": scaling}
    _save(pool, path)
    log(f"pool: {settings.pool} latents of shape {tuple(mean.shape[1:])}, scaling factor {scaling:.4f}")
    return pool


# ----------------------------------------------------------------------------------------------
# 3. The U-Net


def encode_captions(captions: list[str], tokenizer, encoder, workdir: Path, log: Log = print):
    """The frozen encoder's token states for each distinct caption, computed once and kept in the workdir.

    Returns (states, which): states (U + 1, MAX_TOKENS, 384) float16, row 0 the empty prompt of
    classifier-free guidance; which (N,) the row of each pool caption. Encoding 64 captions took 0.5 s of
    a 1.2 s training step on 2 cores; a 40,000-scene pool holds about 17,000 distinct captions.

        >>> states, which = encode_captions(["a red circle", "a red circle", "a blue star"], tok, enc, workdir)  # doctest: +SKIP
        >>> states.shape, which.tolist()  # doctest: +SKIP
        (torch.Size([3, 32, 384]), [2, 2, 1])
    """
    import torch

    distinct = [""] + sorted(set(captions) - {""})
    path = workdir / "captions.pt"
    saved = _load(path)
    if saved is None or saved["captions"] != distinct:
        chunks = []
        bar = _progress(len(distinct), 0, "   captions")
        for begin in range(0, len(distinct), 256):
            chunk = distinct[begin:begin + 256]
            chunks.append(encode_text(tokenizer, encoder, chunk).cpu().to(torch.float16))
            bar.update(len(chunk))
        bar.close()
        saved = {"captions": distinct, "states": torch.cat(chunks)}
        _save(saved, path)
        log(f"captions: {len(distinct) - 1} distinct captions encoded once")
    row = {caption: i for i, caption in enumerate(distinct)}
    return saved["states"], torch.tensor([row[caption] for caption in captions])


def diffusion_loss(unet, latents, context, timesteps, noise, alpha_bars, min_snr_gamma: float):
    """The noise-prediction loss, each timestep weighted by min(SNR, gamma) / SNR.

    latents (B, 4, h, w) clean and scaled; context (B, T, 384); timesteps (B,); noise like latents;
    alpha_bars (1000,) the scheduler's cumulative products.
    """
    import torch

    ab = alpha_bars[timesteps].view(-1, 1, 1, 1)
    noisy = ab.sqrt() * latents + (1 - ab).sqrt() * noise              # q(x_t | x_0)
    prediction = unet(noisy, timesteps, context).sample
    snr = ab.view(-1) / (1 - ab.view(-1))
    weight = torch.clamp(snr, max=min_snr_gamma) / snr
    return (weight * ((prediction - noise) ** 2).mean(dim=(1, 2, 3))).mean()


def train_unet(settings: TrainSettings, pool: dict, workdir: Path, device: str, log: Log = print):
    import torch

    tokenizer, encoder = load_text_encoder(device)
    states, which = encode_captions(pool["captions"], tokenizer, encoder, workdir, log)
    latent_size = pool["mean"].shape[-1]
    unet = build_unet(settings, latent_size).to(device)
    ema = build_unet(settings, latent_size).to(device).requires_grad_(False)
    ema.load_state_dict(unet.state_dict())
    scheduler = build_scheduler()
    alpha_bars = scheduler.alphas_cumprod.to(device)                    # (1000,)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=settings.unet_lr, weight_decay=0.01)
    checkpoint = workdir / "unet.pt"
    start, losses = _resume(checkpoint, {"model": unet, "ema": ema, "optimizer": optimizer}, "U-Net",
                            settings.unet_steps, log)
    unet.train()
    mean, std, captions = pool["mean"], pool["std"], pool["captions"]
    scaling = pool["scaling_factor"]
    bar = _progress(settings.unet_steps, start, "3/3 U-Net")
    for step in range(start, settings.unet_steps):
        generator = torch.Generator("cpu").manual_seed(settings.seed * 1_000_003 + step)
        index = torch.randint(0, len(captions), (settings.unet_batch,), generator=generator)
        latents = (mean[index] + std[index] * torch.randn(std[index].shape, generator=generator)) * scaling
        latents = latents.to(device)                                    # (B, 4, 16, 16)
        keep = torch.rand(settings.unet_batch, generator=generator) >= settings.prompt_dropout
        rows = torch.where(keep, which[index], 0)                        # row 0 holds the empty prompt
        context = states[rows].to(device, torch.float32)                 # (B, 32, 384)
        timesteps = torch.randint(0, 1000, (settings.unet_batch,), generator=generator).to(device)
        noise = torch.randn(latents.shape, generator=generator).to(device)
        loss = diffusion_loss(unet, latents, context, timesteps, noise, alpha_bars, settings.min_snr_gamma)
        for group in optimizer.param_groups:
            group["lr"] = _lr(settings, step, settings.unet_steps, settings.unet_lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        decay = min(settings.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), unet.parameters()):
                e.lerp_(p, 1 - decay)
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-100:]):.4f}")
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.unet_steps:
            _save({"model": unet.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                   "step": step + 1, "losses": losses}, checkpoint)
    bar.close()
    return ema.eval(), tokenizer, losses


# ----------------------------------------------------------------------------------------------
# 4. The pipeline folder


def save_pipeline(out: Path, vae, unet, tokenizer, scaling_factor: float, record: dict) -> Path:
    """fp16 safetensors in a StableDiffusionPipeline folder; the text encoder is left out (passed in at load)."""
    import torch
    from diffusers import StableDiffusionPipeline

    from playground.files import atomic_folder

    vae.register_to_config(scaling_factor=scaling_factor)
    pipe = StableDiffusionPipeline(vae=vae.to("cpu", torch.float16), unet=unet.to("cpu", torch.float16),
                                   text_encoder=None, tokenizer=tokenizer, scheduler=build_scheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    with atomic_folder(out) as scratch:
        pipe.save_pretrained(scratch, safe_serialization=True)
        (scratch / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    vae.to(torch.float32)
    unet.to(torch.float32)
    return out


def train(settings: TrainSettings, workdir: Path, out: Path = PIPELINE_FOLDER, device: str | None = None,
          log: Log = print) -> dict:
    """Train both stages (resuming from `workdir`) and write the pipeline to `out`. Returns the record."""
    import torch

    from playground.device import pick_device

    device = device or pick_device()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _check_resumable(workdir / "settings.json", settings, log)
    torch.manual_seed(settings.seed)
    vae, vae_losses = train_vae(settings, workdir, device, log)
    pool = encode_pool(settings, vae, workdir, device, log)
    unet, tokenizer, unet_losses = train_unet(settings, pool, workdir, device, log)
    record = {
        "settings": asdict(settings), "device": device, "torch_threads": torch.get_num_threads(),
        "seconds_this_run": round(time.time() - started, 1),
        "vae_mse_last_50": float(np.mean(vae_losses[-50:])), "unet_loss_last_100": float(np.mean(unet_losses[-100:])),
        "scaling_factor": pool["scaling_factor"], "text_encoder": "all-minilm-l6-v2 (frozen, passed in at load)",
        "reproduce": _reproduce_command(settings),
    }
    save_pipeline(out, vae, unet, tokenizer, pool["scaling_factor"], record)
    log(f"wrote {out} ({sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 1e6:.1f} MB)")
    return record


def _check_resumable(saved: Path, settings: TrainSettings, log: Log) -> None:
    """A run may resume with other step counts (train longer, or stop sooner), never with another model or data."""
    current = json.loads(json.dumps(asdict(settings)))
    if saved.is_file():
        before = json.loads(saved.read_text())
        changed = {key for key in current if before.get(key) != current[key]}
        if changed - RESUMABLE_CHANGES:
            raise ValueError(f"workdir {saved.parent} holds a run with other settings "
                             f"({', '.join(sorted(changed - RESUMABLE_CHANGES))}): give a fresh --workdir to start over.")
        for key in sorted(changed):
            log(f"resuming with {key} = {current[key]} (was {before.get(key)})")
    saved.write_text(json.dumps(current, indent=2) + "\n")


def _reproduce_command(settings: TrainSettings) -> str:
    """The command line that trains these settings: the closest preset plus its overrides."""
    flags = {"seed": "--seed", "unet_steps": "--unet-steps", "threads": "--threads"}

    def differences(preset: TrainSettings) -> dict:
        return {k: v for k, v in asdict(settings).items() if asdict(preset)[k] != v}

    name = min(PRESETS, key=lambda n: len(differences(PRESETS[n])))
    changed = differences(PRESETS[name])
    words = [f"{flags[k]} {v}" for k, v in changed.items() if k in flags]
    others = [f"{k}={v}" for k, v in changed.items() if k not in flags]
    command = " ".join(["python scripts/train_tiny_shapes.py --preset", name] + words)
    return command + (f" (with TrainSettings overrides {', '.join(others)})" if others else "")


# ----------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Evaluation:
    prompts: int
    colour: float                    # share of objects drawn in the caption's colour
    shape: float                     # ... with the caption's shape
    position: float                  # ... in the caption's cell, or in the caption's relation to the other
    by_kind: dict                    # {"one object": {...}, "two objects": {...}} the same three figures
    vae_mse: float                   # reconstruction error of the VAE on held-out drawings, pixels in [0, 1]
    vae_psnr: float                  # the same as a PSNR in dB
    seconds_per_image: float         # one image, `steps` steps with guidance, on this machine
    steps: int
    guidance_scale: float
    scheduler: str
    device: str


def load_for_evaluation(folder: Path, device: str):
    """Plain diffusers, the way the issue asks: the pipeline folder plus the MiniLM passed in as text encoder."""
    from diffusers import DiffusionPipeline

    _, encoder = load_text_encoder(device)
    pipe = DiffusionPipeline.from_pretrained(folder, text_encoder=encoder, safety_checker=None,
                                             requires_safety_checker=False).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate_images(pipe, prompts: list[str], steps: int, guidance_scale: float, seed: int,
                    batch: int = 25) -> np.ndarray:
    """(N, 64, 64, 3) uint8; image i uses the generator seeded with seed + i, so batching changes only rounding."""
    import torch

    images = []
    for begin in range(0, len(prompts), batch):
        chunk = prompts[begin:begin + batch]
        generators = [torch.Generator(pipe.device).manual_seed(seed + begin + i) for i in range(len(chunk))]
        out = pipe(chunk, num_inference_steps=steps, guidance_scale=guidance_scale, generator=generators,
                   height=shapes.SIZE, width=shapes.SIZE, output_type="np").images
        images.append((np.clip(out, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(images)


def reconstruction_error(vae, scenes: list[shapes.Scene]) -> tuple[float, float]:
    """(MSE, PSNR in dB) of drawing -> latent mean -> drawing, pixels in [0, 1]."""
    import torch

    images = _images_to_tensor(shapes.render_batch(scenes), vae.device).to(vae.dtype)
    with torch.no_grad():
        decoded = vae.decode(vae.encode(images).latent_dist.mean).sample
    mse = float((((decoded.clamp(-1, 1) - images) / 2) ** 2).mean())
    return mse, float(10 * math.log10(1 / max(mse, 1e-12)))


def evaluate(folder: Path = PIPELINE_FOLDER, prompts: int = 200, steps: int = 25, guidance_scale: float = 5.0,
             seed: int = 1234, device: str | None = None, log: Log = print) -> tuple[Evaluation, np.ndarray]:
    """Generate one image per held-out caption and grade it with the renderer's detector.

    Returns the figures and the images, (prompts, 64, 64, 3) uint8.
    """
    import torch

    from playground.device import pick_device

    device = device or pick_device()
    pipe = load_for_evaluation(folder, device)
    scenes = shapes.sample_scenes(prompts, seed=seed, split="heldout")
    started = time.perf_counter()
    images = generate_images(pipe, [s.caption for s in scenes], steps, guidance_scale, seed)
    log(f"generated {prompts} images in {time.perf_counter() - started:.1f} s")
    scores = [shapes.score(scene, image) for scene, image in zip(scenes, images)]

    def figures(kind: int) -> dict:
        chosen = [(s, x) for s, x in zip(scenes, scores) if kind in (0, len(s.objects))]
        weights = np.array([len(s.objects) for s, _ in chosen], dtype=float)   # per object, not per image
        return {"prompts": len(chosen), **{name: float(np.average([getattr(x, name) for _, x in chosen],
                                                                   weights=weights))
                                           for name in ("colour", "shape", "position")}}

    overall = figures(0)
    mse, psnr = reconstruction_error(pipe.vae, scenes)
    generators = [torch.Generator(device).manual_seed(seed)]
    pipe(scenes[0].caption, num_inference_steps=steps, guidance_scale=guidance_scale, generator=generators,
         height=shapes.SIZE, width=shapes.SIZE)                                 # warm-up
    started = time.perf_counter()
    pipe(scenes[0].caption, num_inference_steps=steps, guidance_scale=guidance_scale, generator=generators,
         height=shapes.SIZE, width=shapes.SIZE)
    one = time.perf_counter() - started
    return Evaluation(prompts=prompts, colour=overall["colour"], shape=overall["shape"],
                      position=overall["position"],
                      by_kind={"one object": figures(1), "two objects": figures(2)}, vae_mse=mse, vae_psnr=psnr,
                      seconds_per_image=one, steps=steps, guidance_scale=guidance_scale,
                      scheduler=type(pipe.scheduler).__name__, device=device), images
