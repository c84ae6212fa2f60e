"""What the classroom bench (classroom_bench.py) does with each user's result: read it whole, compare it.

/generate's result becomes one Completion per strategy; /denoise's a Picture, every PNG decoded to its end, so
that a file cut short on its way (issue 15) is caught even when the download raised nothing:

    >>> import numpy as np, tempfile
    >>> from PIL import Image
    >>> path = tempfile.mkstemp(suffix=".png")[1]
    >>> Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    >>> read_png(path, "the final image").shape
    (4, 4, 3)
    >>> _ = Path(path).write_bytes(b"")           # what a reader saw while the server rewrote the file
    >>> try:
    ...     read_png(path, "the final image")
    ... except Truncated as error:
    ...     print(failure_of(3, error).kind, "|", str(error).split(" does")[0].endswith("(0 bytes)"))
    truncated | True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Failure:
    user: int       # -1: the scene as a whole (a reference call)
    kind: str       # "exception", "truncated", "incomplete", "mismatch", "duplicate"
    message: str


@dataclass(frozen=True)
class Completion:
    """One strategy's row of a /generate result, as compared between users."""
    strategy: str
    text: str
    token_ids: tuple[int, ...]      # (new tokens,)


@dataclass(frozen=True, eq=False)
class Picture:
    """A /denoise result, as compared between users: every PNG decoded."""
    image: np.ndarray               # (H, W, 3) uint8, the final image
    previews: list[np.ndarray]      # (steps,) of (H, W, 3) uint8: the predicted x0 of each step
    timesteps: list[float]          # (steps,)


class Incomplete(Exception):
    """A result that came back but is not whole."""


class Truncated(Incomplete):
    """A downloaded file that is shorter than the file it should be (issue 15)."""


def read_png(path: str, label: str):
    """The pixels of a downloaded PNG; Truncated (naming it `label`) when the file does not decode to its end."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as error:
        size = Path(path).stat().st_size if Path(path).exists() else 0
        raise Truncated(f"{label} {Path(path).name} ({size} bytes) does not decode: {error}") from error


def read_generate(result: dict, tokens: int, strategies: int) -> tuple[Completion, ...]:
    """One Completion per strategy (`strategies` of them, up to `tokens` tokens each), checked complete."""
    rows = result.get("results", []) if isinstance(result, dict) else []
    if len(rows) != strategies:
        raise Incomplete(f"{len(rows)} strategy results, expected {strategies}")
    out = []
    for row in rows:
        ids = row.get("token_ids") or []
        if not ids or len(ids) > tokens or not isinstance(row.get("text"), str):
            raise Incomplete(f"strategy {row.get('strategy')!r}: {len(ids)} tokens (asked {tokens})")
        out.append(Completion(row.get("strategy"), row["text"], tuple(ids)))
    return tuple(out)


def read_denoise(result, steps: int) -> Picture:
    """The final image, the step previews and the timesteps, every PNG decoded whole."""
    image_path, gallery, timesteps = result
    previews = [read_png(item["image"] if isinstance(item, dict) else item[0], f"step {i + 1}'s preview")
                for i, item in enumerate(gallery or [])]
    if len(previews) != steps:
        raise Incomplete(f"{len(previews)} step previews, expected {steps}")
    if timesteps is None or len(timesteps) != steps:
        raise Incomplete(f"{0 if timesteps is None else len(timesteps)} timesteps, expected {steps}")
    return Picture(read_png(image_path, "the final image"), previews, list(timesteps))


def differences(a, b) -> str:
    """'' when two read results are identical, else what differs."""

    if not isinstance(a, Picture):
        return "; ".join(f"{x.strategy}: {x.text!r} vs {y.text!r}" for x, y in zip(a, b) if x.token_ids != y.token_ids)
    found = []
    if not np.array_equal(a.image, b.image):
        found.append(f"final image differs ({_pixel_gap(a.image, b.image)})")
    steps = [i + 1 for i, (x, y) in enumerate(zip(a.previews, b.previews)) if not np.array_equal(x, y)]
    if steps:
        found.append(f"the previews of steps {steps[:5]}{'...' if len(steps) > 5 else ''} differ")
    if a.timesteps != b.timesteps:
        found.append("timesteps differ")
    return "; ".join(found)


def _pixel_gap(x, y) -> str:
    if x.shape != y.shape:
        return f"shapes {x.shape} vs {y.shape}"
    gap = abs(x.astype(int) - y.astype(int))
    return f"{int((gap > 0).any(axis=-1).sum())} pixels, at most {int(gap.max())}/255 apart"


def fingerprint(read: tuple[Completion, ...] | Picture) -> bytes:
    """Bytes equal exactly when two results are alike (for spotting duplicates among different seeds): the
    tokens of every strategy, or the final image's pixels."""
    if isinstance(read, Picture):
        return read.image.tobytes()
    return repr([row.token_ids for row in read]).encode()


def failure_of(user: int, error: BaseException) -> Failure:
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, Incomplete):
        return Failure(user, "truncated" if isinstance(error, Truncated) else "incomplete", str(error))
    truncated = ("peer closed connection" in text or "incomplete chunked read" in text
                 or type(error).__name__ in ("RemoteProtocolError", "IncompleteRead"))
    return Failure(user, "truncated" if truncated else "exception", text[:400])
