"""Files the tabs hand to Gradio: images and exports, each written completely before anyone can read it.

Gradio saves an image given as an array by encoding it and writing it, in place, to a path named after the
hash of its bytes (`processing_utils.save_pil_to_cache`). A class pressing the same *Try this* makes the same
image many times at once, so one request rewrites (truncates, then fills) the very file another response is
streaming, and that client receives a short file ("peer closed connection", "Too little data for declared
Content-Length"). A file given by path takes Gradio's other route (`save_file_to_cache`), which copies it
under a temporary name and renames it into place. So the tabs give every image and export as a file that
they wrote the same way.

Images go one step further: they live in IMAGES, which Gradio serves as a static path (`gr.set_static_paths`),
so it neither checks nor copies them per answer. That is safe because an image file is written once, under a
name made from its pixels, and never changed; and it matters when a class asks at once: 16 answers of /denoise
carry 21 PNGs each, and the copies cost the server 0.17 s of CPU per answer against 0.10 s served in place
(2-core CPU). Identical pictures are encoded once:

    >>> import numpy as np
    >>> path = image_file(np.zeros((2, 2, 3), np.uint8))
    >>> path.endswith(".png") and image_file(np.zeros((2, 2, 3), np.uint8)) == path    # named by content
    True
    >>> folder = export_folder("tokens")      # a fresh folder per export, swept after an hour
    >>> write_atomically(folder / "tokens.json", b"[]").read_bytes()
    b'[]'

Everything lives under one folder of this process (OUTPUTS); files older than KEEP_SECONDS are removed when
new ones are written, so a long-running server does not fill its disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np

OUTPUTS = Path(tempfile.gettempdir()) / f"playground-outputs-{os.getpid()}"
IMAGES = OUTPUTS / "images"
KEEP_SECONDS = 3600.0
_swept = [0.0]
_sweep_lock = threading.Lock()

IMAGES.mkdir(parents=True, exist_ok=True)
gr.set_static_paths([IMAGES])


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it into place: a reader sees the old
    file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return path


def save_atomically(path: Path, save: Callable[[Path], object]) -> Path:
    """`save(scratch)` writes the file (a library that wants a path, such as PIL's GIF writer) under a temporary
    name with the same suffix beside `path`, which is then renamed into place, as `write_atomically` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    try:
        save(Path(scratch))
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return path


def image_file(image: np.ndarray, name: str = "image") -> str:
    """An (H, W, 3) uint8 image as a PNG file named after its content (identical images share one file)."""
    from PIL import Image

    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    digest = hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).hexdigest()[:24]
    path = IMAGES / digest / f"{name}.png"
    try:            # the sweep ages a folder by its time: one handed out again must not go before it is read
        os.utime(path.parent)
        found = path.is_file()
    except OSError:
        found = False
    if not found:
        save_atomically(path, lambda scratch: Image.fromarray(pixels).save(scratch, format="PNG"))
    _sweep()
    return str(path)


def export_folder(prefix: str) -> Path:
    """A new, empty folder for one export's files (each request its own, so nobody rewrites another's)."""
    (OUTPUTS / "exports").mkdir(parents=True, exist_ok=True)
    _sweep()
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=OUTPUTS / "exports"))


def _sweep(now: float | None = None) -> None:
    """Remove what is older than KEEP_SECONDS, at most once a minute (Gradio has its own copies of the exports;
    an image's folder is made young again each time it is handed out, and a page keeps the pictures it shows)."""
    now = time.time() if now is None else now
    with _sweep_lock:
        if now - _swept[0] < 60:
            return
        _swept[0] = now
    for folder in (IMAGES, OUTPUTS / "exports"):
        for entry in folder.glob("*"):
            try:
                if now - entry.stat().st_mtime > KEEP_SECONDS:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue
