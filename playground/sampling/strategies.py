"""Decoding strategies: what a strategy is, its parameters checked, and the transformers warpers it applies.

    >>> parse_strategy({"name": "top_p", "p": 0.9}).label()
    'top_p (T=1, p=0.9)'
    >>> [name for name, _ in build_warpers(parse_strategy({"name": "top_k", "k": 5, "temperature": 0.8}))]
    ['temperature', 'top-k']
    >>> parse_strategy({"name": "top_k", "temperature": 0})
    Traceback (most recent call last):
    ValueError: strategy 1 (top_k): temperature must be above 0, got 0. Temperature 0 means always taking the most likely token: use {"name": "greedy"} for that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["STRATEGY_NAMES", "ALIASES", "PARAMETERS", "MAX_STRATEGIES", "MAX_NEW_TOKENS", "MAX_BEAMS", "MAX_SAMPLES",
           "MAX_TEMPERATURE", "TOP_CANDIDATES", "Strategy", "parse_strategy", "parse_strategies", "whole_number",
           "build_warpers"]

STRATEGY_NAMES = ("greedy", "beam", "top_k", "top_p", "temperature", "min_p", "typical")
ALIASES = {"nucleus": "top_p", "beam_search": "beam", "topk": "top_k", "topp": "top_p", "minp": "min_p",
           "typical_p": "typical", "sample": "temperature"}
# Which keys each strategy accepts (besides "name"), with their defaults.
PARAMETERS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "beam": {"num_beams": 4},
    "top_k": {"k": 50, "temperature": 1.0},
    "top_p": {"p": 0.9, "temperature": 1.0, "k": None},
    "temperature": {"temperature": 1.0},
    "min_p": {"min_p": 0.05, "temperature": 1.0, "k": None},
    "typical": {"mass": 0.9, "temperature": 1.0, "k": None},
}

MAX_STRATEGIES = 8
MAX_NEW_TOKENS = 512
MAX_BEAMS = 16
MAX_SAMPLES = 64
MAX_TEMPERATURE = 10.0
TOP_CANDIDATES = 10      # candidates recorded per stage and step


@dataclass(frozen=True)
class Strategy:
    name: str                     # one of STRATEGY_NAMES
    temperature: float = 1.0      # > 0; 1 leaves the distribution as the model gave it
    k: int | None = None          # top-k: keep the k most likely tokens
    p: float | None = None        # top-p: keep the smallest set whose probability reaches p
    min_p: float | None = None    # min-p: drop tokens below min_p x (probability of the top token)
    mass: float | None = None     # typical: keep the most "typical" tokens up to this mass
    num_beams: int = 1            # beam search width

    @property
    def samples(self) -> bool:
        """True for strategies that draw at random (everything but greedy and beam)."""
        return self.name not in ("greedy", "beam")

    def label(self) -> str:
        if self.name == "greedy":
            return "greedy"
        if self.name == "beam":
            return f"beam ×{self.num_beams}"
        parts = [f"T={self.temperature:g}"]
        if self.k is not None:
            parts.append(f"k={self.k}")
        for name, value in (("p", self.p), ("min_p", self.min_p), ("mass", self.mass)):
            if value is not None:
                parts.append(f"{name}={value:g}")
        return f"{self.name} ({', '.join(parts)})"

    def to_dict(self) -> dict:
        allowed = PARAMETERS[self.name]
        return {"name": self.name, **{key: getattr(self, key) for key in allowed if getattr(self, key) is not None}}


def parse_strategy(spec: Any, index: int = 0) -> Strategy:
    """Validate one strategy dict such as {"name": "top_k", "k": 50, "temperature": 1.0}."""
    where = f"strategy {index + 1}"
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a dict such as {{\"name\": \"greedy\"}}, got {type(spec).__name__}.")
    raw_name = str(spec.get("name", "")).strip().lower()
    name = ALIASES.get(raw_name, raw_name)
    if name not in PARAMETERS:
        raise ValueError(f"{where}: unknown strategy name {spec.get('name')!r}; "
                         f"choose one of {', '.join(STRATEGY_NAMES)}.")
    allowed = PARAMETERS[name]
    unknown = sorted(set(spec) - {"name"} - set(allowed))
    if name in ("min_p", "typical") and "p" in unknown and name not in spec:
        unknown.remove("p")   # {"name": "min_p", "p": 0.1} reads naturally; accept it
    if unknown:
        expected = ", ".join(allowed) or "no parameters"
        raise ValueError(f"{where} ({name}): unknown parameter(s) {', '.join(unknown)}; expected {expected}.")
    values = {key: spec.get(key, default) for key, default in allowed.items()}
    if name == "min_p" and "p" in spec and "min_p" not in spec:
        values["min_p"] = spec["p"]
    if name == "typical" and "p" in spec and "mass" not in spec:
        values["mass"] = spec["p"]

    if "temperature" in values:
        values["temperature"] = _temperature(values["temperature"], where, name)
    if values.get("k") is not None:
        values["k"] = whole_number(values["k"], f"{where} ({name}): k")
        if values["k"] < 1:
            raise ValueError(f"{where} ({name}): k must be at least 1 (k = 1 is greedy), got {values['k']}.")
    if name == "top_p":
        values["p"] = _fraction(values["p"], f"{where} (top_p): p", upper_open=False)
    if name == "min_p":
        values["min_p"] = _fraction(values["min_p"], f"{where} (min_p): min_p", upper_open=False)
    if name == "typical":
        values["mass"] = _fraction(values["mass"], f"{where} (typical): mass", upper_open=True)
    if name == "beam":
        beams = whole_number(values["num_beams"], f"{where} (beam): num_beams")
        if not 1 <= beams <= MAX_BEAMS:
            raise ValueError(f"{where} (beam): num_beams must be between 1 and {MAX_BEAMS} "
                             f"(more beams need more memory), got {beams}.")
        values["num_beams"] = beams
    return Strategy(name=name, **values)


def parse_strategies(specs: Any) -> list[Strategy]:
    """Validate a list of strategy dicts (what the API takes) into Strategy objects, in order."""
    if isinstance(specs, (Strategy, dict, str)):
        specs = [specs]
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError('strategies is empty: give a list such as [{"name": "greedy"}, {"name": "top_k", "k": 50}].')
    if len(specs) > MAX_STRATEGIES:
        raise ValueError(f"strategies: at most {MAX_STRATEGIES} strategies at once, got {len(specs)}; remove some.")
    return [spec if isinstance(spec, Strategy) else parse_strategy(spec, i) for i, spec in enumerate(specs)]


def _temperature(value: Any, where: str, name: str) -> float:
    try:
        temperature = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} ({name}): temperature must be a number, got {value!r}.") from None
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{where} ({name}): temperature must be above 0, got {value!r}. Temperature 0 means always "
                         'taking the most likely token: use {"name": "greedy"} for that.')
    if temperature > MAX_TEMPERATURE:
        raise ValueError(f"{where} ({name}): temperature {temperature:g} is above {MAX_TEMPERATURE:g}; "
                         "such a flat distribution gives noise. Use a value between 0.1 and 2.")
    return temperature


def whole_number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} must be a whole number, got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {value!r}.") from None
    if not number.is_integer():
        raise ValueError(f"{what} must be a whole number, got {value!r}.")
    return int(number)


def _fraction(value: Any, what: str, upper_open: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in (0, 1], got {value!r}.") from None
    if upper_open:
        if not 0 < number < 1:
            raise ValueError(f"{what} must be strictly between 0 and 1, got {value!r}.")
    elif not 0 < number <= 1:
        raise ValueError(f"{what} must be in (0, 1] (1 keeps every token), got {value!r}.")
    return number


def build_warpers(strategy: Strategy) -> list[tuple[str, Any]]:
    """The transformers warpers of a sampling strategy, in the order they apply:
    temperature, then top-k, then top-p / min-p / typical. Greedy and beam have none."""
    from transformers import (MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
                              TypicalLogitsWarper)

    if not strategy.samples:
        return []
    stages: list[tuple[str, Any]] = [("temperature", TemperatureLogitsWarper(float(strategy.temperature)))]
    if strategy.k is not None:
        stages.append(("top-k", TopKLogitsWarper(strategy.k)))
    if strategy.p is not None:
        stages.append(("top-p", TopPLogitsWarper(strategy.p)))
    if strategy.min_p is not None:
        stages.append(("min-p", MinPLogitsWarper(strategy.min_p)))
    if strategy.mass is not None:
        stages.append(("typical", TypicalLogitsWarper(strategy.mass)))
    return stages
