"""Each family's controls: their kinds, defaults and ranges, presets, and the checks on what a user sends.

This module imports neither torch nor gradio, so the tab can build its controls from it at start-up.

    >>> check_settings("gan", {})["loss"]
    'non-saturating'
    >>> check_settings("gan", {"preset": "mode_collapse"})["lr_g"] > check_settings("gan", {})["lr_g"]
    True
    >>> check_settings("vae", {"beta": "high"})
    Traceback (most recent call last):
    ValueError: settings['beta'] = 'high' must be a number (from 0 to 10) for the vae family.
    >>> check_steps(10**9, "flow")
    Traceback (most recent call last):
    ValueError: steps = 1,000,000,000 is above the largest allowed, 20,000 (0 means the family's default, 1,000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FAMILIES = ("gan", "vae", "flow", "diffusion", "autoregressive")
FAMILY_TITLES = {"gan": "GAN", "vae": "VAE", "flow": "Normalizing flow", "diffusion": "Diffusion",
                 "autoregressive": "Autoregressive"}
MAX_STEPS = 20_000
GAN_LOSSES = ("non-saturating", "least-squares", "wasserstein-gp")
SAMPLERS = ("DDPM", "DDIM")
COUPLINGS = ("spline", "affine")


@dataclass(frozen=True)
class Setting:
    key: str                        # the key in the API's settings dict
    kind: str                       # "float", "int" or "choice"
    default: Any
    label: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    retrain: bool = True            # False: it changes only what is shown, so a run continues with a new value
    info: str = ""


SETTINGS: dict[str, tuple[Setting, ...]] = {
    "gan": (
        Setting("loss", "choice", "non-saturating", "Loss", choices=GAN_LOSSES,
                info="non-saturating: the original GAN's; least-squares: LSGAN; wasserstein-gp: a critic with a "
                     "gradient penalty, which counters mode collapse"),
        Setting("lr_g", "float", 1e-3, "Generator learning rate", 1e-6, 0.1),
        Setting("lr_d", "float", 1e-3, "Discriminator learning rate", 1e-6, 0.1),
        Setting("d_steps", "int", 1, "Discriminator steps per generator step", 1, 10),
    ),
    "vae": (
        Setting("beta", "float", 1.0, "beta (weight of the KL term)", 0.0, 10.0,
                info="1: the ELBO; above 1 the latent hugs the prior, below 1 reconstructions sharpen"),
        Setting("lr", "float", 3e-3, "Learning rate", 1e-6, 0.1),
    ),
    "flow": (
        Setting("coupling", "choice", "spline", "Coupling map", choices=COUPLINGS,
                info="spline: a rational-quadratic spline (Neural Spline Flows); affine: RealNVP's scale and shift"),
        Setting("layers", "int", 4, "Coupling layers", 2, 16),
        Setting("lr", "float", 2e-3, "Learning rate", 1e-6, 0.1),
    ),
    "diffusion": (
        Setting("sampler", "choice", "DDPM", "Scheduler", choices=SAMPLERS, retrain=False,
                info="as in the Diffusion tab: DDPM adds fresh noise at each step, DDIM does not"),
        Setting("sampling_steps", "int", 50, "Scheduler steps (sampling)", 1, 1000, retrain=False),
        Setting("field_t", "int", 100, "Timestep t of the noise field", 1, 999, retrain=False),
        Setting("lr", "float", 2e-3, "Learning rate", 1e-6, 0.1),
    ),
    "autoregressive": (
        Setting("temperature", "float", 1.0, "Temperature (sampling)", 0.05, 3.0, retrain=False,
                info="as in the Sampling tab: the logits are divided by it before the softmax"),
        Setting("bins", "int", 120, "Bins per coordinate", 8, 200),
        Setting("lr", "float", 3e-3, "Learning rate", 1e-6, 0.1),
    ),
}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # A generator that learns twenty times faster than its judge chases the discriminator's one weak spot: the
    # whole cloud gathers in one place instead of spreading over the modes.
    "gan": {"mode_collapse": {"loss": "non-saturating", "lr_g": 2e-3, "lr_d": 1e-4, "d_steps": 1}},
}
DEFAULT_STEPS = {family: 1000 for family in FAMILIES}   # the same budget for all: 1,000 steps of 256 points
BATCH = 256


def check_family(family: Any) -> str:
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"family {family!r} is unknown: choose one of {', '.join(FAMILIES)}.")
    return family


def check_steps(steps: Any, family: str) -> int:
    """Training steps as a whole number; 0 (or None) means the family's default."""
    if steps is None:
        return DEFAULT_STEPS[family]
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not math.isfinite(steps):
        raise ValueError(f"steps = {steps!r} must be a whole number from 0 to {MAX_STEPS:,}.")
    if float(steps) != int(steps):
        raise ValueError(f"steps = {steps} must be a whole number.")
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps = {steps} is negative; use 0 for the family's default ({DEFAULT_STEPS[family]:,}).")
    if steps > MAX_STEPS:
        raise ValueError(f"steps = {steps:,} is above the largest allowed, {MAX_STEPS:,} (0 means the family's "
                         f"default, {DEFAULT_STEPS[family]:,}).")
    return steps or DEFAULT_STEPS[family]


def defaults(family: str) -> dict[str, Any]:
    return {setting.key: setting.default for setting in SETTINGS[family]}


def check_settings(family: str, settings: Any) -> dict[str, Any]:
    """Every setting of `family`, typed and in range: a preset first, then the keys given, then defaults."""
    check_family(family)
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ValueError(f"settings must be a dict of the {family} family's controls, such as {defaults(family)}; "
                         f"got {type(settings).__name__}.")
    settings = dict(settings)
    values = defaults(family)
    preset = settings.pop("preset", None)
    if preset not in (None, "", "none"):
        presets = PRESETS.get(family, {})
        if preset not in presets:
            known = ", ".join(map(repr, presets)) or "none"
            raise ValueError(f"settings['preset'] = {preset!r} is unknown for the {family} family; presets: {known}.")
        values.update(presets[preset])
    specs = {setting.key: setting for setting in SETTINGS[family]}
    for key, value in settings.items():
        if key not in specs:
            raise ValueError(f"settings[{key!r}] is not a control of the {family} family; its controls are "
                             f"{', '.join(specs)}{' and preset' if family in PRESETS else ''}.")
        values[key] = _check_value(specs[key], value, family)
    return values


def _check_value(setting: Setting, value: Any, family: str) -> Any:
    where = f"settings[{setting.key!r}] = {value!r}"
    if setting.kind == "choice":
        if value not in setting.choices:
            raise ValueError(f"{where} is not one of {', '.join(map(repr, setting.choices))}.")
        return value
    span = f"from {setting.minimum:g} to {setting.maximum:g}"
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        kind = "a whole number" if setting.kind == "int" else "a number"
        raise ValueError(f"{where} must be {kind} ({span}) for the {family} family.")
    if not math.isfinite(number):
        raise ValueError(f"{where} is not a finite number; give one {span}.")
    if setting.kind == "int":
        if float(number) != int(number):
            raise ValueError(f"{where} must be a whole number ({span}).")
        number = int(number)
    if not setting.minimum <= number <= setting.maximum:
        raise ValueError(f"{where} is out of range: give a value {span}.")
    return number if setting.kind == "int" else float(number)
