"""Tiny randomly initialised Stable Diffusion pipelines for tests and benchmarks (no download).

Built from the same diffusers parts as a real checkpoint (AutoencoderKL, UNet2DConditionModel with
cross-attention, a scheduler, a BERT tokenizer) and saved with save_pretrained, so that loading them
goes the same way as a Hub checkpoint or the embedded tiny-shapes-sd:

    >>> import tempfile
    >>> tmp_path = Path(tempfile.mkdtemp())
    >>> folder = build_tiny_pipeline(tmp_path / "sd")     # tiny-shapes-sd layout: encoder passed in at load
    >>> sorted(p.name for p in folder.iterdir() if p.is_dir())
    ['scheduler', 'tokenizer', 'unet', 'vae']
    >>> folder = build_tiny_pipeline(tmp_path / "hub", own_text_encoder=True, lcm=True)
    >>> (folder / "text_encoder").is_dir()
    True
    >>> import shutil; shutil.rmtree(tmp_path)

The weights are random, so the images are noise; what the tests check is the machinery.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_pipeline(folder: Path, *, own_text_encoder: bool = False, lcm: bool = False, width: int = 32,
                        sample_size: int = 16, seed: int = 0, max_length: int = 16, taesd: bool = False,
                        vae_width: int = 16) -> Path:
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import AutoTokenizer, BertConfig, BertModel

    from playground.catalog import resolve
    from playground.registry import DEFAULT_ENCODER

    torch.manual_seed(seed)
    cross = 384 if not own_text_encoder else 32
    unet = UNet2DConditionModel(
        sample_size=sample_size, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(width, width * 2), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=cross, attention_head_dim=4,
        norm_num_groups=8, time_cond_proj_dim=32 if lcm else None,
    )
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(vae_width, vae_width * 2), latent_channels=4,
                        norm_num_groups=8, sample_size=sample_size * 2)
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    tokenizer = AutoTokenizer.from_pretrained(resolve(DEFAULT_ENCODER).path, model_max_length=max_length)
    encoder = None
    if own_text_encoder:
        encoder = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=4, intermediate_size=64,
                                       max_position_embeddings=max_length))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    if taesd:  # a random tiny decoder in the taesd/ subfolder, where load_taesd looks first
        from diffusers import AutoencoderTiny

        AutoencoderTiny(encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
                        num_encoder_blocks=(1, 1), num_decoder_blocks=(1, 1),
                        latent_channels=4).save_pretrained(Path(folder) / "taesd")
    return Path(folder)
