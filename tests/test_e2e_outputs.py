"""Files under load: a class pressing the same button at once gets every picture and export whole.

For each endpoint that returns files, USERS identical requests are sent at once, each user downloading its files as
soon as its answer arrives (while the others' requests are still being answered, as in a classroom). Every file must
be complete (the bytes received equal the Content-Length; a PNG decodes fully with PIL) and every user must get the
same picture. Before the tabs wrote their files themselves (tabs/outputs.py), Gradio rewrote one content-named file
in place for each identical image, and /denoise lost 2-5 of 16 results to a truncated download. The public API's
file endpoints are listed from /gradio_api/info; the page's own events (private) are sent the way the browser sends
them, through /gradio_api/queue/join.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from tests.conftest import serve_app

pytestmark = pytest.mark.e2e

USERS = 32
STEPS = 4
PROMPT = "a small red circle above a large blue square on a white background"
FILE_URL = re.compile(r'https?://[^"\s\\]+/gradio_api/file=[^"\s\\]+')


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    # 4 heavy events of a tab at once (the default when not public): the others wait in the queue
    with serve_app(tmp_path_factory.mktemp("outputs") / "app.log") as (url, _):
        yield url


def download(url: str) -> dict:
    """One file: its bytes' digest, or what went wrong (a short body, a PNG that does not decode)."""
    try:
        response = httpx.get(url, timeout=120)
    except httpx.HTTPError as error:                  # e.g. "peer closed connection without sending complete ..."
        return {"url": url, "error": f"{type(error).__name__}: {error}"}
    # the bytes on the wire (a text file comes gzipped: Content-Length counts those), then the file itself
    body, declared, received = response.content, response.headers.get("content-length"), response.num_bytes_downloaded
    if response.status_code != 200:
        return {"url": url, "error": f"HTTP {response.status_code}"}
    if declared is None or int(declared) != received or not body:
        return {"url": url, "error": f"{received} bytes received, Content-Length {declared}"}
    if url.endswith((".png", ".gif", ".webp")):
        try:
            with Image.open(io.BytesIO(body)) as image:
                image.load()
        except Exception as error:                    # noqa: BLE001 - any decoding failure is the finding
            return {"url": url, "error": f"does not decode: {type(error).__name__}: {error}"}
    return {"url": url, "sha": hashlib.sha256(body).hexdigest(), "size": len(body)}


def call_api(base: str, endpoint: str, data: list) -> str:
    """The public API's two-step call (POST, then read the event stream); the stream's text."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(f"{base}gradio_api/call/{endpoint}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{base}gradio_api/call/{endpoint}/{event}", timeout=300) as response:
        return response.read().decode()


def call_page(base: str, fn_index: int, data: list) -> str:
    """An event of the page, sent as the browser sends it (queue/join, then the session's event stream): the
    stream's text, every streamed update included."""
    session = uuid.uuid4().hex[:11]
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None,
                       "trigger_id": None}).encode()
    request = urllib.request.Request(f"{base}gradio_api/queue/join", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=60).read()
    lines = []
    with urllib.request.urlopen(f"{base}gradio_api/queue/data?session_hash={session}", timeout=300) as response:
        for raw in response:
            line = raw.decode()
            lines.append(line)
            if '"process_completed"' in line:
                break
    return "".join(lines)


def page_event(base: str, name: str, values: dict) -> tuple[int, list]:
    """The page's event `name` (its api_name, or that name with Gradio's _N suffix) whose inputs include the
    elements in `values`: its fn_index and its inputs, each the page's default unless `values` (by elem_id) says."""
    with urllib.request.urlopen(f"{base}config", timeout=30) as response:
        config = json.load(response)
    components = {c["id"]: c["props"] for c in config["components"]}
    for index, dependency in enumerate(config["dependencies"]):
        ids = [components[i].get("elem_id") for i in dependency["inputs"]]
        if re.fullmatch(rf"{name}(_\d+)?", str(dependency.get("api_name"))) and set(values) <= set(ids):
            return index, [values.get(elem, components[i].get("value")) for elem, i in zip(ids, dependency["inputs"])]
    raise AssertionError(f"no event {name!r} with inputs {sorted(values)}")


def crowd(send, users: int = USERS) -> list[dict]:
    """`users` identical requests at once; each user downloads its files as soon as its answer arrives. One
    {"stream", "files"} per user."""
    start = threading.Barrier(users)

    def user(_):
        start.wait()
        stream = send()
        urls = list(dict.fromkeys(FILE_URL.findall(stream)))
        return {"stream": stream, "files": [download(url) for url in urls]}

    with ThreadPoolExecutor(users) as pool:
        return list(pool.map(user, range(users)))


def check(results: list[dict], least_files: int) -> dict[str, set]:
    """Every file whole; each URL the same bytes for everyone; every user the same set of pictures."""
    errors = [f["url"].rsplit("/", 2)[-2:] + [f["error"]] for r in results for f in r["files"] if "error" in f]
    failed = [r["stream"][-300:] for r in results if '"success": false' in r["stream"] or "event: error" in r["stream"]]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:2]}"
    assert not errors, f"{len(errors)} incomplete files of {sum(len(r['files']) for r in results)}: {errors[:5]}"
    by_url: dict[str, set] = {}
    for result in results:
        for found in result["files"]:
            by_url.setdefault(found["url"], set()).add(found["sha"])
    assert all(len(shas) == 1 for shas in by_url.values()), "one URL gave different bytes to different users"
    assert min(len(r["files"]) for r in results) >= least_files
    return by_url


def test_only_denoise_returns_files_in_the_public_api(served):
    """The public endpoints whose answers hold files: this file covers them all (a new one must be added here)."""
    with urllib.request.urlopen(f"{served}gradio_api/info", timeout=30) as response:
        info = json.load(response)
    with_files = {name for name, endpoint in info["named_endpoints"].items()
                  if "FileData" in json.dumps(endpoint["returns"]) or "filepath" in json.dumps(endpoint["returns"])}
    assert with_files == {"/denoise"}


def test_a_class_calling_denoise_at_once_gets_whole_identical_images(served):
    results = crowd(lambda: call_api(served, "denoise", [PROMPT, "tiny-shapes-sd", STEPS, 5.0, 0, "DDIM", ""]))
    check(results, least_files=STEPS + 1)                 # the final image and one preview per step
    pictures = {tuple(f["sha"] for f in r["files"]) for r in results}
    assert len(pictures) == 1, f"{len(pictures)} different answers to one request"


def test_a_class_running_the_diffusion_tab_at_once_gets_whole_streamed_pictures(served):
    """The Diffusion tab's streamed x_t, x0 and noise, its final image and its gallery of previews."""
    index, data = page_event(served, "run", {"diff-steps": STEPS, "diff-show-noise": True})
    results = crowd(lambda: call_page(served, index, data))
    # at least the last step's streamed x_t and noise (its x0 is the last preview's file), the final, STEPS previews;
    # how many earlier steps were streamed depends on timing (at most about seven updates a second)
    check(results, least_files=STEPS + 3)


def test_a_class_making_the_same_filmstrip_and_latent_arithmetic_gets_whole_files(served):
    index, data = page_event(served, "compare", {"diff-steps": STEPS, "diff-values": "1, 7.5", "diff-columns": 3})
    check(crowd(lambda: call_page(served, index, data), users=USERS // 4), least_files=2)    # its PNG and GIF
    index, data = page_event(served, "arithmetic_handler", {})
    check(crowd(lambda: call_page(served, index, data)), least_files=5)


def test_a_class_exporting_the_same_tokens_gets_whole_identical_files(served):
    index, data = page_event(served, "export", {"tok-names": ["smollm2-135m-instruct"]})
    results = crowd(lambda: call_page(served, index, data))
    check(results, least_files=2)                                                        # tokens.json and tokens.csv
    assert len({tuple(sorted(f["sha"] for f in r["files"])) for r in results}) == 1
