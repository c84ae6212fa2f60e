"""How the wrappers report progress: `progress(fraction, message)`, with fraction in [0, 1].

The tabs pass Gradio's progress bar (tabs.common.progress_callback); scripts and tests pass nothing.

    >>> def report(fraction: float, message: str) -> None:
    ...     print(f"{fraction:.0%} {message}")
    >>> report(0.5, "Loading weights")
    50% Loading weights
    >>> no_progress(0.5, "Loading weights")          # the default: says nothing
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    return None
