"""BertViz's head view and model view of a run, as standalone pages that load their scripts from this app.

    >>> from playground.attention import run_attention
    >>> result = run_attention("The cat sat.", "all-minilm-l6-v2")
    >>> window = bertviz_window(result, start=0)
    >>> window.start, window.stop, window.layers             # all 6 tokens, every layer
    (0, 6, [0, 1, 2, 3, 4, 5])
    >>> page = bertviz_document(result, "head", window, vendor_url="vendor/")
    >>> page.startswith("<!doctype html>"), "vendor/require.js" in page, "cdnjs" in page   # cdnjs: fallback only
    (True, True, True)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from playground.attention.records import AttentionResult, BertvizWindow

__all__ = ["BERTVIZ_MAX_TOKENS", "BERTVIZ_MAX_WEIGHTS", "bertviz_window", "bertviz_document"]

BERTVIZ_MAX_TOKENS = 64
BERTVIZ_MAX_WEIGHTS = 300_000   # numbers in one BertViz page (about 2.5 MB of HTML)
_CDN = {
    "require": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js",
    "d3": "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min",
    "jquery": "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min",
}



def bertviz_window(result: AttentionResult, start: int, max_tokens: int | None = None) -> BertvizWindow:
    """BertViz's HTML carries every weight it shows (layers x heads x T x T numbers), so long inputs
    are cut to a window of at most `max_tokens` tokens (by default as many as keep the page under
    BERTVIZ_MAX_WEIGHTS numbers, and at most BERTVIZ_MAX_TOKENS)."""
    if max_tokens is None:
        fit = int(math.sqrt(BERTVIZ_MAX_WEIGHTS / (result.num_layers * result.num_heads)))
        max_tokens = max(8, min(BERTVIZ_MAX_TOKENS, fit))
    try:
        start = int(start)
    except (TypeError, ValueError):
        raise ValueError(f"BertViz start position must be a whole number, got {start!r}.") from None
    if not 0 <= start < result.num_tokens:
        raise ValueError(f"BertViz start position {start} is out of range: use 0 to {result.num_tokens - 1}.")
    return BertvizWindow(start, min(result.num_tokens, start + max_tokens), list(range(result.num_layers)))


def bertviz_document(result: AttentionResult, view: str, window: BertvizWindow, vendor_url: str,
                     inline_from: Path | None = None) -> str:
    """A standalone HTML page with BertViz's head view or model view of `window`, loading require.js,
    d3 and jQuery from `vendor_url` (a folder URL ending in "/") and from cdnjs only if that fails.
    With `inline_from` (the vendor folder) the three scripts are written into the page instead, so a
    downloaded file works offline on its own."""
    import torch
    from bertviz import head_view, model_view

    if view not in ("head", "model"):
        raise ValueError(f"BertViz view must be 'head' or 'model', got {view!r}.")
    part = slice(window.start, window.stop)
    # Four decimals keep the page about three times smaller than float32's full repr.
    attention = [torch.from_numpy(np.round(result.weights[layer][None, :, part, part].astype(np.float64), 4))
                 for layer in window.layers]
    tokens = list(result.tokens[part])
    render = head_view if view == "head" else model_view
    body = render(attention, tokens, html_action="return", include_layers=list(range(len(attention)))).data
    return _offline_page(body, vendor_url, inline_from)


def _inline_scripts(folder: Path) -> str:
    """d3 and jQuery as globals, then require.js, then the two named modules BertViz asks for."""
    def script(name: str) -> str:
        return "<script>" + (folder / name).read_text(encoding="utf-8").replace("</script", "<\\/script") + "</script>"
    return (script("d3.min.js") + script("jquery.min.js") + script("require.js") +
            "<script>define('d3', [], function () { return window.d3; });"
            "define('jquery', [], function () { return window.jQuery; });</script>")


def _offline_page(body: str, vendor_url: str, inline_from: Path | None = None) -> str:
    body = body.replace(f'<script src="{_CDN["require"]}"></script>', "", 1)
    for name in ("d3", "jquery"):
        local = f"{vendor_url}{name}.min"
        body = body.replace(f"'{_CDN[name]}'", f"['{local}', '{_CDN[name]}']", 1)
    opening = '<script type="text/javascript">'
    head, _, script = body.partition(opening)
    # Token text sits in a JSON literal inside <script>: "</" would end the script early.
    script = script[:script.rindex("</script>")].replace("</", "<\\/").replace("<!--", "<\\!--")
    if inline_from is not None and all((inline_from / n).is_file() for n in ("d3.min.js", "jquery.min.js", "require.js")):
        loader = _inline_scripts(inline_from)
    else:
        loader = (f"<script src='{vendor_url}require.js'></script>"
                  f"<script>window.require || document.write('<script src=\"{_CDN['require']}\"><\\/script>')</script>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"{loader}"
        "</head><body style='background:#fff'>"
        f"{head}{opening}{script}</script></body></html>"
    )
