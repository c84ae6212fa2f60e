"""`python app.py` as a Space starts it (SPACE_ID set, GRADIO_SERVER_NAME=0.0.0.0): it listens on every
interface, and public mode answers over-limit and off-allowlist API calls with the limit and the setting
named, before any model loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port, wait_until_serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def space_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("space") / "app.log"
    env = {**os.environ, "SPACE_ID": "teacher/playground", "GRADIO_SERVER_NAME": "0.0.0.0",
           "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("PLAYGROUND_PUBLIC", None)
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process)
        yield url, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(log.read_text()[-2000:])


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
