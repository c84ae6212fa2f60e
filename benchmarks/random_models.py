"""Randomly initialised models with the shapes of real ones, saved like checkpoints, for benchmarks/gpu_check.py.

Nothing can be downloaded on the GPU machine and the real weights are too large to carry there, so the checks
run on models built from configs (benchmarks/configs/*.json: SmolLM2-135M's and Gemma 3 270M's own, a Llama 3.2
1B-shaped one, Stable Diffusion 1.5's U-Net and VAE, TAESD, a small CLIP text encoder) with seeded random
weights, saved with save_pretrained so that the app loads them through its own code, as it loads any local
folder. Speed depends on the shapes, not on the values; the correctness checks compare two code paths on the
same weights.

    folder = build_decoder("smollm2-135m", scratch / "smollm2", quick=True)   # 2 layers, SmolLM2's head layout
    load_model(str(folder)).model.config.num_key_value_heads                  # 2 (SmolLM2: 9 heads share 3)
    build_sd_pipeline(scratch / "sd15", quick=False)      # SD 1.5's U-Net and VAE, TAESD in taesd/
    tiny_shapes_with_encoder(scratch / "shapes", quick=False)   # the real tiny-shapes-sd + a random MiniLM encoder

Decoders get a tokenizer whose tokens are the words "t0", "t1", ... (one per id of the vocabulary, special ids
named <bos>, <eos>, ...), so any id decodes and a prompt of N words is N tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"
TINY_SHAPES = REPO / "assets" / "models" / "tiny-shapes-sd"
LOGIT_STD = 4.0   # spread of the random models' next-token logits, about a trained small model's


def read_config(name: str) -> dict[str, Any]:
    return json.loads((CONFIGS / f"{name}.json").read_text(encoding="utf-8"))


def shrink_decoder(config: dict[str, Any]) -> dict[str, Any]:
    """The same architecture at toy size (2 layers, width 64, 512 tokens), keeping grouped-query or
    multi-query attention and, for Gemma 3, one sliding-window layer and one full one."""
    small = dict(config, num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                 head_dim=16, vocab_size=512)
    kv = config.get("num_key_value_heads", config["num_attention_heads"])
    small["num_key_value_heads"] = 1 if kv == 1 else 2 if kv < config["num_attention_heads"] else 4
    if "layer_types" in config:
        small["layer_types"] = ["sliding_attention", "full_attention"]
        small["_sliding_window_pattern"] = 2
    if "sliding_window" in config:
        small["sliding_window"] = 16
    if "query_pre_attn_scalar" in config:
        small["query_pre_attn_scalar"] = 16
    for key, fallback in (("bos_token_id", 1), ("eos_token_id", 2), ("pad_token_id", 0)):
        if isinstance(config.get(key), int) and config[key] >= small["vocab_size"]:
            small[key] = fallback
    return small


def word_tokenizer(vocab_size: int, bos: int | None, eos: int | None, pad: int | None, unk: int | None = None):
    """A fast tokenizer whose vocabulary is the words t0 ... t{vocab_size-1}, split on whitespace; special ids
    get names such as <eos> instead (an added token "t1" would also match the start of "t139").

    >>> tokenizer = word_tokenizer(512, bos=1, eos=2, pad=0)
    >>> tokenizer("t5 t139 <eos>")["input_ids"]
    [5, 139, 2]
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    roles = [("unk", unk if isinstance(unk, int) else 0), ("bos", bos), ("eos", eos), ("pad", pad)]
    names: dict[int, str] = {}
    for role, index in roles:
        if isinstance(index, int) and index not in names:
            names[index] = f"<{role}>"
    backend = Tokenizer(models.WordLevel({names.get(i, f"t{i}"): i for i in range(vocab_size)},
                                         unk_token=names[roles[0][1]]))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    special = {f"{role}_token": names[index] for role, index in roles if isinstance(index, int)}
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special)


def _final_norm(model: Any):
    inner = getattr(model, "model", None)
    return getattr(inner, "norm", None)


def sharpen(model: Any, vocab_size: int, target_std: float = LOGIT_STD, seed: int = 0) -> None:
    """Scale the final norm so that the next-token logits spread like a trained model's (a random model's are
    nearly flat: greedy would pick among near-ties, and top-p would keep most of the vocabulary). Works for
    norms that compute w * x (LLaMA, w starts at 1) and (1 + w) * x (Gemma, w starts at 0): which one is
    found by zeroing w."""
    import torch

    norm = _final_norm(model)
    if norm is None or not isinstance(getattr(norm, "weight", None), torch.Tensor):
        return
    weight = norm.weight
    device = weight.device
    probe = torch.randint(3, vocab_size, (1, 16), generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        std = float(model(input_ids=probe).logits[0, -1].float().std())
        saved = weight.detach().clone()
        weight.zero_()
        plain = float(norm(torch.ones(1, 1, weight.shape[0], device=device, dtype=weight.dtype)).abs().max()) == 0
        weight.copy_(saved)
        factor = target_std / max(std, 1e-6)
        if plain:
            weight.mul_(factor)
        else:
            weight.copy_((1 + weight) * factor - 1)


def build_decoder(name: str, folder: Path, *, quick: bool, seed: int = 0, device: str = "cpu",
                  save_dtype: Any = None) -> Path:
    """A random causal LM with benchmarks/configs/<name>.json's shape (shrunk when quick), with a word tokenizer,
    saved in `folder`. Built on `device` (a GPU initialises a 1B model in a moment), saved in `save_dtype`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    spec = read_config(name)
    if quick:
        spec = shrink_decoder(spec)
    model_type = spec.pop("model_type")
    config = AutoConfig.for_model(model_type, **spec)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config)
    model.eval()
    sharpen(model, config.vocab_size, seed=seed)
    if save_dtype is not None:
        model.to(save_dtype)
    model.save_pretrained(folder)
    eos = config.eos_token_id[0] if isinstance(config.eos_token_id, list) else config.eos_token_id
    word_tokenizer(config.vocab_size, config.bos_token_id, eos, config.pad_token_id,
                   getattr(config, "unk_token_id", None)).save_pretrained(folder)
    del model
    return Path(folder)


def _shrink_sd(unet: dict, vae: dict, taesd: dict, text: dict) -> None:
    """Stable Diffusion 1.5's layout at toy size: 128 x 128 images, 16 x 16 latents, the same block types."""
    unet.update(block_out_channels=[32, 32, 64, 64], layers_per_block=1, attention_head_dim=4,
                cross_attention_dim=32, norm_num_groups=8, sample_size=16)
    vae.update(block_out_channels=[16, 16, 32, 32], layers_per_block=1, norm_num_groups=8, sample_size=128)
    taesd.update(encoder_block_out_channels=[8, 8, 8, 8], decoder_block_out_channels=[8, 8, 8, 8],
                 num_encoder_blocks=[1, 1, 1, 1], num_decoder_blocks=[1, 1, 1, 1])
    text.update(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=1, projection_dim=32)


def build_sd_pipeline(folder: Path, *, quick: bool, seed: int = 0, device: str = "cpu", save_dtype: Any = None) -> Path:
    """A random Stable Diffusion 1.5-shaped pipeline (U-Net and VAE of SD 1.5's configs, a small CLIP text
    encoder, SD 1.5's PNDM scheduler, tiny-shapes-sd's BERT tokenizer cut at 77 tokens) with a random TAESD
    (AutoencoderTiny of TAESD's config) in taesd/, where the app's load_taesd looks first."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel

    unet_config, vae_config, taesd_config = (read_config(n) for n in ("sd15-unet", "sd15-vae", "taesd"))
    text_config = read_config("clip-text-small")
    text_config.pop("model_type")
    if quick:
        _shrink_sd(unet_config, vae_config, taesd_config, text_config)
    torch.manual_seed(seed)
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(unet_config)
        vae = AutoencoderKL.from_config(vae_config)
        taesd = AutoencoderTiny.from_config(taesd_config)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_config))
    tokenizer = AutoTokenizer.from_pretrained(TINY_SHAPES / "tokenizer", model_max_length=77)
    scheduler = PNDMScheduler.from_config(read_config("sd15-scheduler"))
    parts = [unet, vae, taesd, text_encoder]
    if save_dtype is not None:
        for part in parts:
            part.to(save_dtype)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    taesd.save_pretrained(Path(folder) / "taesd")
    del pipe, parts, unet, vae, taesd, text_encoder
    return Path(folder)


def tiny_shapes_with_encoder(folder: Path, *, quick: bool, seed: int = 0) -> Path:
    """The embedded tiny-shapes-sd (its own U-Net, VAE, scheduler and tokenizer, linked) with a random text
    encoder of all-MiniLM-L6-v2's config stored beside them: the real MiniLM (90 MB) is too large to carry,
    and an embedded package can't be installed on the GPU machine."""
    import torch
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("unet", "vae", "scheduler", "tokenizer"):
        (folder / part).symlink_to(TINY_SHAPES / part, target_is_directory=True)
    index = json.loads((TINY_SHAPES / "model_index.json").read_text(encoding="utf-8"))
    index["text_encoder"] = ["transformers", "BertModel"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    config = read_config("all-minilm-l6-v2")
    config.pop("model_type")
    if quick:
        config["num_hidden_layers"] = 1
    torch.manual_seed(seed)
    BertModel(BertConfig(**config)).save_pretrained(folder / "text_encoder")
    return folder
