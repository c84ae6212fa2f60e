"""What every tab shares: model choices, turning ValueErrors into page messages, progress bars.

    >>> @friendly_errors
    ... def handler(text):
    ...     raise ValueError("text is empty: type something.")
    >>> handler("")            # raises gr.Error("text is empty: type something.") shown in the page
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
from typing import Any, Callable

import gradio as gr

from playground.catalog import EMBEDDED

log = logging.getLogger("playground")

DECODERS = [name for name, spec in EMBEDDED.items() if spec.architecture == "decoder"]
ALL_MODELS = list(EMBEDDED)


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


def progress_callback(progress: gr.Progress) -> Callable[[float, str], None]:
    """Adapt Gradio's progress bar to the `progress(fraction, message)` the wrappers call."""
    return lambda fraction, message: progress(fraction, desc=message)


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)
