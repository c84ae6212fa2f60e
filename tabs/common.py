"""What every tab shares: model choices, turning ValueErrors into page messages, progress bars.

    >>> @friendly_errors
    ... def handler(text):
    ...     raise ValueError("text is empty: type something.")
    >>> handler("")            # a gr.Error: Gradio shows its message in the page (and the API)
    Traceback (most recent call last):
    ...
    gradio.exceptions.Error: 'text is empty: type something.'
"""

from __future__ import annotations

import functools
import html
import inspect
import json
import logging
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

import gradio as gr

from playground import public
from playground.registry import TEXT_MODELS

log = logging.getLogger("playground")

DECODERS = [name for name, spec in TEXT_MODELS.items() if spec.architecture == "decoder"]
ALL_MODELS = list(TEXT_MODELS)
_CONTROL_NAMES = {0x7F: "␡"}


@dataclass
class Controls:
    """What a tab's build() hands back, so that lessons and shared links can set its inputs and run it."""

    run: gr.Button                                  # pressing it runs the tab; needs an elem_id
    inputs: dict[str, gr.components.Component]      # lesson / link key -> the component it sets
    snippet: Callable[[dict], list[str]]            # Copy as Python: input values -> lines calling the tab's API
    open_ranges: tuple[str, ...] = field(default=())  # sliders whose maximum the run itself sets (layer, head)


class StopButtons:
    """Stop buttons for runs that stop themselves between steps, per browser session.

    A streaming run that checks here ends at its next step and says where it stopped. Gradio's `cancels` kills
    the run's task instead, which on a busy server raced the run's last update: the status of a run stopped on
    purpose showed Gradio's "Error". Runs are numbered by the clicks on their run button, so a Stop reaches the
    run it was pressed for (even one still waiting in the queue) and never the next one.

        >>> stops = StopButtons()
        >>> first = stops.click("session a")     # the run button; its run starts and reads latest() == first
        >>> stops.press("session a")             # Stop
        >>> stops.pressed("session a", first)
        True
        >>> second = stops.click("session a")    # pressed again at once: the old run still stops, the new one goes on
        >>> stops.pressed("session a", first), stops.pressed("session a", second), stops.latest("session a")
        (True, False, 2)
        >>> stops.pressed("session b", stops.latest("session b")), stops.pressed(None, 0)
        (False, False)
    """

    def __init__(self) -> None:
        self._clicks: dict[str, int] = {}       # session -> the number of its latest run
        self._stopped: dict[str, int] = {}      # session -> every run up to this number is stopped
        self._lock = threading.Lock()

    def click(self, session: str | None) -> int:
        if session is None:
            return 0
        with self._lock:
            self._clicks[session] = self._clicks.get(session, 0) + 1
            return self._clicks[session]

    def latest(self, session: str | None) -> int:
        return self._clicks.get(session, 0) if session is not None else 0

    def press(self, session: str | None) -> None:
        if session is not None:
            with self._lock:
                self._stopped[session] = self._clicks.get(session, 0)

    def pressed(self, session: str | None, run: int) -> bool:
        return session is not None and 0 < run <= self._stopped.get(session, 0)


def session_of(request: gr.Request | None) -> str | None:
    """The browser session behind an event (None for a call without one, such as a test's)."""
    return getattr(request, "session_hash", None)


def heavy_events(tab_id: str) -> dict:
    """Listener options for a tab's model-running events (a progress bar, a public API endpoint): one
    concurrency group per tab of public.tab_concurrency() workers, so one busy tab can't hold every worker.
    Light events (sliders over cached results, a lesson's text) stay out of it.

        >>> sorted(heavy_events("attention"))
        ['concurrency_id', 'concurrency_limit']
    """
    return {"concurrency_id": tab_id, "concurrency_limit": public.tab_concurrency()}


def crowd_events(tab_id: str) -> dict:
    """Listener options for events whose requests join one shared batch (playground.crowd: decoding, denoising):
    a group of public.crowd_concurrency() workers, so a class's requests reach the batch together instead of
    in waves of the tab's usual limit. The batch itself computes one at a time.

        >>> crowd_events("diffusion")["concurrency_id"]
        'diffusion-crowd'
    """
    return {"concurrency_id": f"{tab_id}-crowd", "concurrency_limit": public.crowd_concurrency()}


def friendly_errors(handler: Callable) -> Callable:
    """Show a wrapper's ValueError as a message in the page (and the API); log anything else and
    show a short message instead of a traceback, so the app stays up."""

    def convert(error: Exception) -> gr.Error:
        if isinstance(error, gr.Error):
            return error
        if isinstance(error, ValueError):
            # Gradio shows error messages as HTML, and ours quote the user's own text (a model name,
            # a word): escape the markup characters, keep quotes readable.
            return gr.Error(html.escape(str(error), quote=False), print_exception=False)
        log.exception("unexpected error in %s", handler.__name__)
        return gr.Error(f"Something went wrong ({type(error).__name__}); the details are in the server log.",
                        print_exception=False)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def generator_wrapper(*args: Any, **kwargs: Any):
            try:
                yield from handler(*args, **kwargs)
            except Exception as error:
                raise convert(error) from error
        return generator_wrapper

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            raise convert(error) from error
    return wrapper


def run_on_example_click(examples: gr.Examples, run: gr.Button) -> None:
    """A click on an example fills the inputs (Gradio's own step), then presses the tab's run button, so it
    runs exactly what pressing the button runs (and the page address follows)."""
    examples.load_input_event.then(None, js=f"() => document.getElementById({json.dumps(run.elem_id)})?.click()",
                                    api_visibility="private", queue=False)


def clear_on_failure(event: Any, outputs: list) -> None:
    """After a failed run, empty `outputs`: an old result must never stand under new inputs as if it were
    theirs. The message itself is shown once, in the toast (app.py closes older error toasts at the next
    click, so they don't pile up)."""
    event.failure(lambda: [None] * len(outputs) if len(outputs) > 1 else None, None, outputs,
                  api_visibility="private", queue=False, show_progress="hidden")


def progress_callback(progress: gr.Progress) -> Callable[[float, str], None]:
    """Adapt Gradio's progress bar to the `progress(fraction, message)` the wrappers call."""
    return lambda fraction, message: progress(fraction, desc=message)


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def show_whitespace(text: str) -> str:
    """Make invisible characters visible: '·' for a space, '→' for a tab, '↵' for a newline,
    control pictures (␀ ␛ ...) for control characters, ⟨U+200B⟩ for other invisible ones."""
    out = []
    for char in text:
        code = ord(char)
        if char == " ":
            out.append("·")
        elif char == "\t":
            out.append("→")
        elif char in "\n\r":
            out.append("↵" if char == "\n" else "␍")
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code in _CONTROL_NAMES:
            out.append(_CONTROL_NAMES[code])
        elif unicodedata.category(char) in ("Cf", "Cc", "Zl", "Zp") or (char.isspace() and char != " "):
            out.append(f"⟨U+{code:04X}⟩")
        else:
            out.append(char)
    return "".join(out)
