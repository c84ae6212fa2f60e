"""Bad input never crashes: seeded random mixes of awkward values sent through the API of a running app
(hypothesis), at least 500 per endpoint. Every reply is a result or an error message that names the input;
never Gradio's generic "upstream app has raised an exception", never our "Something went wrong", and the
app still answers afterwards."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import serve_app

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("PLAYGROUND_FUZZ_EXAMPLES", "500"))
GENERIC = ("Something went wrong", "upstream", "raised an exception", "Error", "None", "null", "")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory):
    with serve_app(tmp_path_factory.mktemp("fuzz") / "app.log") as (url, _):
        yield url


def call(url: str, endpoint: str, data: list) -> tuple[str, object]:
    """('complete', result) or ('error', message) for one call of `endpoint` with `data`."""
    body = json.dumps({"data": data}, allow_nan=True).encode()
    request = urllib.request.Request(f"{url}gradio_api/call/{endpoint}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            event = json.load(response)["event_id"]
    except urllib.error.HTTPError as error:            # refused before it ran: the body says why
        return "error", error.read().decode(errors="replace")
    with urllib.request.urlopen(f"{url}gradio_api/call/{endpoint}/{event}", timeout=300) as response:
        stream = response.read().decode(errors="replace")
    kind, payload = "", None
    for line in stream.splitlines():
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            payload = line.split(":", 1)[1].strip()
    if kind == "error":
        message = json.loads(payload) if payload not in (None, "") else None
        if isinstance(message, dict):      # {"error": "the message", "title": ...}; null when Gradio hides it
            message = message.get("error")
        return "error", message if isinstance(message, str) else None
    return kind, payload


def awkward():
    """Values that should be refused with a message, not crash anything."""
    return st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
        st.text(alphabet="/\\.\x00\n <>&\"'", max_size=30), st.just("x" * 300), st.just(""),
        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def check(kind: str, payload: object, endpoint: str, data: list) -> None:
    if kind == "complete":
        return
    assert kind == "error", (endpoint, data, kind, payload)
    message = payload if isinstance(payload, str) else ""       # None: Gradio's own generic error
    assert message.strip() not in GENERIC and not message.startswith("Something went wrong"), \
        (endpoint, data, message)


BATCH = 25   # inputs sent at once; hypothesis can't draw one list of 500 rich values, so it draws 20 lists


def run(url: str, endpoint: str, strategy, examples: int | None = None) -> None:
    """`examples` (default EXAMPLES) inputs drawn by hypothesis (seeded), sent in batches of BATCH at once, eight
    at a time (a class pressing the same button)."""
    wanted = examples or EXAMPLES

    @seed(20261201)
    @settings(max_examples=-(-wanted // BATCH), deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(strategy, min_size=BATCH, max_size=BATCH))
    def batch(inputs):
        with ThreadPoolExecutor(max_workers=8) as pool:
            for data, (kind, payload) in zip(inputs, pool.map(lambda data: call(url, endpoint, data), inputs)):
                check(kind, payload, endpoint, data)
                sent.append(data)

    sent: list = []
    started = time.perf_counter()
    batch()
    print(f"{endpoint}: {len(sent)} inputs in {time.perf_counter() - started:.0f} s")
    assert len(sent) >= wanted
    assert call(url, "tokenize", ["still here", "all-minilm-l6-v2"])[0] == "complete"


MODELS = st.one_of(st.sampled_from(["all-minilm-l6-v2", "smollm2-135m-instruct", "gemma-3-270m", "tiny-shapes-sd",
                                    "nobody/nothing", "a" * 400, "../../etc/passwd", "/tmp"]), awkward())


def test_tokenize_survives_awkward_input(api_url):
    run(api_url, "tokenize", st.tuples(st.one_of(st.text(max_size=60), awkward()), MODELS).map(list))


def test_attention_survives_awkward_input(api_url):
    run(api_url, "attention", st.tuples(st.one_of(st.text(max_size=40), awkward()), MODELS,
                                       st.one_of(st.integers(-2, 40), awkward()),
                                       st.one_of(st.integers(-3, 15), awkward())).map(list))


STRATEGY = st.one_of(st.fixed_dictionaries({"name": st.sampled_from(["greedy", "top_k", "top_p", "beam", "typical",
                                                                       "min_p", "temperature", "nope"])}),
                     st.dictionaries(st.sampled_from(["name", "k", "p", "temperature", "num_beams", "mass"]),
                                     awkward(), max_size=3), awkward())


def test_generate_survives_awkward_input(api_url):
    run(api_url, "generate", st.tuples(st.one_of(st.text(max_size=30), awkward()), MODELS,
                                      st.one_of(st.lists(STRATEGY, max_size=3), awkward()),
                                      st.one_of(st.integers(-2, 3), awkward()), st.one_of(st.integers(0, 5), awkward()),
                                      st.one_of(st.booleans(), awkward())).map(list))


def test_denoise_survives_awkward_input(api_url):
    run(api_url, "denoise", st.tuples(st.one_of(st.text(max_size=30), awkward()), MODELS,
                                     st.one_of(st.integers(-1, 3), awkward()), st.one_of(st.floats(-2, 40), awkward()),
                                     st.one_of(st.integers(-1, 5), awkward()),
                                     st.one_of(st.sampled_from(["DDIM", "Euler", "LCM", "PNDM", "nope"]), awkward()),
                                     st.one_of(st.text(max_size=20), awkward())).map(list))


# The later tabs' endpoints: fewer inputs each (a fifth), since their valid calls train a model or run Captum
# (steps 0 would mean the default, a thousand training steps: left out); the same rule, an error names the
# input, holds for every one.
LATER = max(BATCH, EXAMPLES // 5)
TEXT = st.one_of(st.text(max_size=12), awkward())
WHY_MODELS = st.one_of(st.sampled_from(["smollm2-135m-instruct", "all-minilm-l6-v2", "tiny-shapes-sd", "nobody/x",
                                        "a" * 400]), awkward())


def test_train_family_survives_awkward_input(api_url):
    run(api_url, "train_family", st.tuples(
        st.one_of(st.sampled_from(["gan", "vae", "flow", "diffusion", "autoregressive", "bert"]), awkward()),
        st.one_of(st.sampled_from(["ring8", "moons", "spiral", "0,0\n1,1", "x,y"]), awkward()),
        st.one_of(st.integers(-2, 5).filter(bool), awkward()), st.one_of(st.integers(-1, 3), awkward()),
        st.one_of(st.just({}), st.just({"preset": "mode_collapse"}), st.dictionaries(st.text(max_size=6), awkward(),
                                                                                     max_size=2), awkward())).map(list),
        LATER)


def test_why_endpoints_survive_awkward_input(api_url):
    methods = st.one_of(st.sampled_from(["gradient_x_input", "occlusion", "attention_rollout", "nope"]), awkward())
    run(api_url, "attribute", st.tuples(TEXT, WHY_MODELS, TEXT, methods, TEXT).map(list), LATER)
    run(api_url, "contributions", st.tuples(TEXT, WHY_MODELS, TEXT).map(list), LATER)
    run(api_url, "patch", st.tuples(TEXT, TEXT, WHY_MODELS, TEXT).map(list), LATER)
    heads = st.one_of(st.lists(st.lists(st.one_of(st.integers(-1, 40), st.none()), max_size=3), max_size=3), awkward())
    run(api_url, "ablate", st.tuples(TEXT, WHY_MODELS, heads, st.one_of(st.lists(st.integers(-1, 40), max_size=3),
                                                                         awkward()),
                                     st.one_of(st.sampled_from(["zero", "mean", "nope"]), awkward())).map(list), LATER)
