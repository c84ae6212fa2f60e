"""Shareable links: a tab's inputs as a query string, and back, with a clear message for anything wrong.

A tab declares its inputs as Fields (what kind of value, its range or choices, its default). A link
names the tab and only the inputs that differ from their defaults, so it stays short enough for a slide;
decoding fills the rest with the defaults, so a link always means the same run.

    >>> fields = [Field("text", "text", default="Hello"), Field("seed", "int", default=0, minimum=0),
    ...           Field("models", "choices", default=("a",), choices=("a", "b"))]
    >>> encode_link("tokenization", fields, {"text": "Hi 👋", "seed": 0, "models": ["a", "b"]})
    'tab=tokenization&text=Hi+%F0%9F%91%8B&models=a&models=b'
    >>> link = decode_link([("tab", "tokenization"), ("seed", "-3"), ("text", "Hi")], {"tokenization": fields})
    >>> link.tab, link.values
    ('tokenization', {'text': 'Hi', 'seed': 0, 'models': ('a',)})
    >>> link.problems
    ('seed: -3 is below the smallest allowed value, 0; the default 0 was used.',)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlencode

KINDS = ("text", "int", "float", "bool", "choice", "choices")
TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")
TAB_KEY = "tab"
RUN_KEY = "run"
# Every request the page makes carries its address (the Referer header), and servers refuse headers past
# about 64 KB: a value longer than this stays out of the link, and the tab's default is used in its place.
MAX_VALUE_CHARS = 2000


@dataclass(frozen=True)
class Field:
    key: str                      # the name in links and lesson files
    kind: str                     # one of KINDS; "choices" is a list (a multiselect)
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # the allowed values of a choice field; empty: any text

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"field {self.key!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}.")


@dataclass(frozen=True)
class Link:
    tab: str | None               # None: the address names no tab (a plain visit)
    values: dict                  # key -> value for every field of the tab (defaults filled in)
    problems: tuple[str, ...]     # one readable sentence per ignored or unusable part of the link
    run: bool = True              # run the tab once restored


def coerce(field: Field, raw: str | Sequence[str]) -> Any:
    """One field's value from its text (a list for repeated keys); ValueError says what is wrong.

    >>> coerce(Field("k", "int", minimum=1, maximum=200), "40")
    40
    >>> coerce(Field("names", "choices"), "a, b")
    ('a', 'b')
    """
    if field.kind == "choices":
        items = [raw] if isinstance(raw, str) else list(raw)
        values = tuple(part.strip() for item in items for part in item.split(",") if part.strip())
        for value in values:
            _check_choice(field, value)
        return values
    if not isinstance(raw, str):
        if len(raw) != 1:
            raise ValueError(f"{field.key}: given {len(raw)} times; give it once.")
        raw = raw[0]
    if field.kind == "text":
        return raw
    text = raw.strip()
    if field.kind == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"{field.key}: {text!r} is not true or false.")
    if field.kind == "choice":
        _check_choice(field, text)
        return text
    return _number(field, text)


def _check_choice(field: Field, value: str) -> None:
    if field.choices and value not in field.choices:
        raise ValueError(f"{field.key}: {value!r} is not one of {', '.join(map(repr, field.choices))}.")


def _number(field: Field, text: str) -> int | float:
    try:
        number = float(text)
    except ValueError:
        kind = "a whole number" if field.kind == "int" else "a number"
        raise ValueError(f"{field.key}: {text!r} is not {kind}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{field.key}: {text!r} is not a finite number.")
    if field.kind == "int":
        if not number.is_integer():
            raise ValueError(f"{field.key}: {text!r} is not a whole number.")
        number = int(number)
    if field.minimum is not None and number < field.minimum:
        raise ValueError(f"{field.key}: {text} is below the smallest allowed value, {_show(field.minimum)}.")
    if field.maximum is not None and number > field.maximum:
        raise ValueError(f"{field.key}: {text} is above the largest allowed value, {_show(field.maximum)}.")
    return number


def _show(value: Any) -> str:
    """A value as a link carries it: 7.5, 20 (not 20.0), true, a list item by item."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def same(field: Field, value: Any) -> bool:
    """Whether a value equals the field's default (lists compared item by item, 20 == 20.0)."""
    if field.kind == "choices":
        return tuple(value or ()) == tuple(field.default or ())
    if field.kind in ("int", "float") and value is not None and field.default is not None:
        return float(value) == float(field.default)
    return value == field.default


def encode_link(tab: str, fields: Sequence[Field], values: Mapping[str, Any]) -> str:
    """The query string (without '?') of a run: the tab, then each input that differs from its default."""
    pairs: list[tuple[str, str]] = [(TAB_KEY, tab)]
    for field in fields:
        value = values.get(field.key, field.default)
        if value is None or same(field, value):
            continue
        if field.kind == "choices":
            pairs += [(field.key, str(item)) for item in value]
        elif len(_show(value)) <= MAX_VALUE_CHARS:
            pairs.append((field.key, _show(value)))
    return urlencode(pairs)


def decode_link(params: Iterable[tuple[str, str]], tabs: Mapping[str, Sequence[Field]],
                ignore: Iterable[str] = ()) -> Link:
    """A link's (key, value) pairs, in order and with repeats, as the tab and all its input values.

    Nothing in a link is fatal: an unknown tab gives no tab, an unknown key or a bad value is left out
    (its default is used), and each such part is named in `problems`. Keys starting with '__' (Gradio's
    own, such as __theme) and those in `ignore` are left alone.
    """
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)
    ignored = set(ignore)
    ours = {key: values for key, values in grouped.items() if not key.startswith("__") and key not in ignored}
    if not ours:
        return Link(None, {}, ())
    problems: list[str] = []
    tab = (ours.pop(TAB_KEY, None) or [None])[-1]
    run_values = ours.pop(RUN_KEY, None)
    if tab is None:
        return Link(None, {}, (f"The link has settings ({', '.join(sorted(ours))}) but no tab=; "
                               f"add tab= with one of {', '.join(tabs)}.",))
    if tab not in tabs:
        return Link(None, {}, (f"The link names tab {tab!r}, which does not exist; tabs: {', '.join(tabs)}.",))
    run = True
    if run_values is not None:
        try:
            run = coerce(Field(RUN_KEY, "bool"), run_values)
        except ValueError as error:
            problems.append(f"{error} The tab was run.")
    fields = {field.key: field for field in tabs[tab]}
    values = {key: field.default for key, field in fields.items()}
    for key, raw in ours.items():
        field = fields.get(key)
        if field is None:
            problems.append(f"{key}: the {tab} tab has no such setting (it has {', '.join(fields)}); ignored.")
            continue
        try:
            values[key] = coerce(field, raw)
        except ValueError as error:
            problems.append(f"{error.args[0].rstrip('.')}; the default {_show_default(field)} was used.")
    return Link(tab, values, tuple(problems), run)


def _show_default(field: Field) -> str:
    if field.kind == "choices":
        return ", ".join(map(str, field.default or ())) or "(none)"
    return repr(field.default) if field.kind in ("text", "choice") else _show(field.default)
