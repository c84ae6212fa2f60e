"""tabs/outputs.py: files handed to Gradio are complete whenever anyone reads them, and are swept."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from PIL import Image

from tabs import outputs


def test_identical_images_written_at_once_are_always_read_whole():
    image = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    first = outputs.image_file(image)
    os.remove(first)                        # everybody writes it again, at the same moment
    sizes, paths, stop = set(), set(), threading.Event()

    def read():
        while not stop.is_set():
            try:
                sizes.add(os.path.getsize(first))
            except FileNotFoundError:
                pass

    def write():
        for _ in range(20):
            paths.add(outputs.image_file(image))

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write) for _ in range(8)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert paths == {first}
    assert sizes == {os.path.getsize(first)}                      # never an empty or a half-written file
    assert np.array_equal(np.asarray(Image.open(first)), image)


def test_exports_get_their_own_folders_and_old_files_are_swept(monkeypatch):
    first, second = outputs.export_folder("tokens"), outputs.export_folder("tokens")
    assert first != second and first.is_dir() and not any(first.iterdir())
    old = time.time() - outputs.KEEP_SECONDS - 10
    os.utime(first, (old, old))
    monkeypatch.setattr(outputs, "_swept", [0.0])
    outputs._sweep()
    assert not first.exists() and second.exists()


def test_a_file_saved_by_a_library_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "strip.gif"

    def fails(scratch):
        scratch.write_bytes(b"GIF89a half")
        raise OSError("disk full")

    try:
        outputs.save_atomically(target, fails)
    except OSError:
        pass
    assert not target.exists() and list(tmp_path.iterdir()) == []      # no half file, no scratch left behind
    frames = [Image.new("RGB", (4, 4), colour) for colour in ("red", "blue")]
    seen = []
    outputs.save_atomically(target, lambda scratch: (seen.append(scratch.suffix),
                                                     frames[0].save(scratch, save_all=True, append_images=frames[1:])))
    assert seen == [".gif"]                                              # PIL picks the format from the suffix
    with Image.open(target) as animation:
        assert animation.n_frames == 2


def test_images_are_named_by_their_pixels_and_served_in_place():
    from gradio.utils import is_static_file

    image = np.zeros((8, 8, 3), np.uint8)
    path = outputs.image_file(image, "x0")
    assert outputs.image_file(image.copy(), "x0") == path                       # the same pixels: the same file
    assert outputs.image_file(np.ones((8, 8, 3), np.uint8), "x0") != path
    assert outputs.image_file(np.zeros((4, 16, 3), np.uint8), "x0") != path     # same bytes, another shape
    assert np.array_equal(np.asarray(Image.open(path)), image)
    # Gradio serves the images from where they are instead of copying each one into its cache per answer
    assert is_static_file(path)
    assert not is_static_file(str(outputs.write_atomically(outputs.export_folder("t") / "t.json", b"[]")))
