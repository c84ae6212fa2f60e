"""`python app.py` as a Space starts it (SPACE_ID set, GRADIO_SERVER_NAME=0.0.0.0): it listens on every
interface, and public mode answers over-limit and off-allowlist API calls with the limit and the setting
named, before any model loads."""

from __future__ import annotations

import pytest

from tests.conftest import serve_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def space_url(tmp_path_factory):
    with serve_app(tmp_path_factory.mktemp("space") / "app.log", SPACE_ID="teacher/playground",
                   GRADIO_SERVER_NAME="0.0.0.0", PLAYGROUND_PUBLIC=None) as served:
        yield served


def test_a_space_listens_on_every_interface(space_url):
    _, port = space_url
    listening = open("/proc/net/tcp").read().splitlines()[1:] + open("/proc/net/tcp6").read().splitlines()[1:]
    local = [line.split()[1] for line in listening if line.split()[3] == "0A"]  # 0A: LISTEN
    assert f"00000000:{port:04X}" in local or f"00000000000000000000000000000000:{port:04X}" in local


def test_public_mode_refuses_with_the_setting_named(space_url):
    from gradio_client import Client

    client = Client(space_url[0], verbose=False, download_files=False)
    with pytest.raises(Exception, match="local path"):
        client.predict("hello", "/etc", api_name="/tokenize")
    with pytest.raises(Exception, match="allowlist"):
        client.predict("hello", "someone/huge-model", api_name="/tokenize")
    with pytest.raises(Exception, match="PLAYGROUND_PUBLIC_MAX_NEW_TOKENS"):
        client.predict("Hi", "smollm2-135m-instruct", [{"name": "greedy"}], 200, 0, True, api_name="/generate")
    with pytest.raises(Exception, match="PLAYGROUND_PUBLIC_MAX_CHARS"):
        client.predict("x" * 20_001, "smollm2-135m-instruct", api_name="/tokenize")
