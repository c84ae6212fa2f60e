"""Shareable state: every tab's inputs in the page address, a "Copy link" button, and "Copy as Python".

The address holds the tab and the inputs that differ from their defaults (`?tab=sampling&prompt=...`).
Opening such a link restores the tab and its inputs and runs it (`demo.load` reads
`request.query_params`); a small script keeps the address in sync (history.replaceState) whenever an
input is edited, a run starts or another tab is chosen. Keys come from each tab's `Controls.inputs`;
their kinds, ranges and choices from the components themselves.

    >>> fields = [Field("text", "text", "Hello"), Field("tokenizers", "choices", ("a", "b"))]
    >>> lines = lambda values: [f"print({values['text']!r})"]
    >>> print(python_snippet("tokenization", fields, {"text": "Hi", "tokenizers": ["a"]}, "http://127.0.0.1:7860/", lines))
    ... # doctest: +ELLIPSIS
    from gradio_client import Client
    <BLANKLINE>
    # The same run in the browser: http://127.0.0.1:7860/?tab=tokenization&text=Hi&tokenizers=a
    client = Client('http://127.0.0.1:7860/')
    ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import gradio as gr

from playground.links import MAX_VALUE_CHARS, TAB_KEY, Field, Link, decode_link, encode_link
from tabs.common import Controls, escape

# Address parameters that belong to others, never a problem: Gradio's own (besides __theme) and the
# projector-mode toggle's.
FOREIGN_KEYS = ("view", "deep_link", "ui", "projector")
CLICK_WAIT_MS = 15_000   # how long a run waits for its tab to be drawn (tabs draw their contents when first shown)
RESTORED_FLAG = "pgLinkRestored"  # set on window once the page's own link has been read


# ---------------------------------------------------------------------------------------------
# Fields from components


def field_of(key: str, component: gr.components.Component, open_range: bool = False) -> Field:
    """The link / lesson field a component stands for: its kind, range, choices and default."""
    value = component.value
    if isinstance(component, gr.Checkbox):
        return Field(key, "bool", bool(value))
    if isinstance(component, gr.Slider):
        whole = float(component.step).is_integer() and float(component.minimum).is_integer()
        return Field(key, "int" if whole else "float", value, component.minimum,
                     None if open_range else component.maximum)
    if isinstance(component, gr.Number):
        return Field(key, "int" if component.precision == 0 else "float", value, component.minimum,
                     None if open_range else component.maximum)
    if isinstance(component, (gr.Dropdown, gr.Radio)):
        strict = not getattr(component, "allow_custom_value", False)
        choices = tuple(str(choice[1]) for choice in component.choices) if strict else ()
        if getattr(component, "multiselect", False):
            return Field(key, "choices", tuple(value or ()), choices=choices)
        return Field(key, "choice", value, choices=choices)
    if isinstance(component, gr.Textbox):
        return Field(key, "text", value or "")
    raise TypeError(f"{key}: {type(component).__name__} can't be set from a link or a lesson yet.")


def fields_of(controls: Controls) -> list[Field]:
    return [field_of(key, component, key in controls.open_ranges) for key, component in controls.inputs.items()]


def updates_for(controls: Controls, fields: Sequence[Field], values: Mapping[str, Any]) -> list:
    """One gr.update per input: the given value, or the default for inputs not named."""
    updates = []
    for field, component in zip(fields, controls.inputs.values()):
        value = values.get(field.key, field.default)
        value = list(value) if field.kind == "choices" else value
        if field.key in controls.open_ranges and isinstance(component, gr.Slider):
            # the run sets the real range (a model's layers); until then the slider must hold the value
            updates.append(gr.update(value=value, maximum=max(value, component.maximum)))
        else:
            updates.append(gr.update(value=value))
    return updates


def typed_values(fields: Sequence[Field], raw: Sequence[Any]) -> dict:
    """The page's current input values, typed like the fields (Gradio gives 20.0 for a whole slider)."""
    values = {}
    for field, value in zip(fields, raw):
        if value is not None and field.kind == "int":
            value = int(value)
        elif value is not None and field.kind == "float":
            value = float(value)
        elif field.kind == "choices":
            value = tuple([value] if isinstance(value, str) else value or ())
        values[field.key] = value
    return values


# ---------------------------------------------------------------------------------------------
# Browser side


def link_builder_js(tab_id: str, fields: Sequence[Field]) -> str:
    """A JavaScript expression: a function from the tab's input values to the page address with them.
    Parameters that belong to others (Gradio's __theme, say) are kept; anything else is replaced."""
    keys = [field.key for field in fields]
    defaults = [list(field.default) if field.kind == "choices" else field.default for field in fields]
    return f"""((values) => {{
  const keys = {json.dumps(keys)}, defaults = {json.dumps(defaults)}, foreign = {json.dumps(list(FOREIGN_KEYS))};
  const params = new URLSearchParams();
  for (const [key, value] of new URLSearchParams(window.location.search)) {{
    if (key.startsWith("__") || foreign.includes(key)) params.append(key, value);
  }}
  params.set({json.dumps(TAB_KEY)}, {json.dumps(tab_id)});
  keys.forEach((key, i) => {{
    let value = values[i];
    if (value === null || value === undefined || JSON.stringify(value) === JSON.stringify(defaults[i])) return;
    if (typeof value === "number" && typeof defaults[i] === "number" && value === defaults[i]) return;
    if (!Array.isArray(value) && String(value).length > {MAX_VALUE_CHARS}) return;
    (Array.isArray(value) ? value : [value]).forEach((item) => params.append(key, String(item)));
  }});
  return window.location.pathname + "?" + params.toString();
}})"""


def sync_js(builder: str) -> str:
    """Keep the address in step with the inputs, once the link the page was opened with has been read
    (the page fires events of its own while it starts, which must not overwrite that link)."""
    return (f"(...values) => {{ if (!window.{RESTORED_FLAG}) return; "
            f"window.history.replaceState(window.history.state, '', {builder}(values)); }}")


def copy_link_js(builder: str) -> str:
    """Build the link, put it on the clipboard when the page may, and show it in the link box."""
    return f"""(...values) => {{
  const link = window.location.origin + {builder}(values.slice(0, -1));
  window.history.replaceState(window.history.state, '', link);
  try {{ navigator.clipboard.writeText(link).catch(() => {{}}); }} catch (error) {{}}
  return link;
}}"""


def click_js(elem_id_source: str, restored: bool = False, scroll: bool = False) -> str:
    """Press a tab's run button once its tab has drawn it. `elem_id_source`: a JS expression; `restored`:
    this ends the restoring of a link, so the address may follow the inputs from now on; `scroll`: bring the
    button to the top of the window first, so that the results that appear under it are in view (a lesson's
    Try this sits far above them)."""
    return f"""(...values) => {{
  {f"window.{RESTORED_FLAG} = true;" if restored else ""}
  const id = {elem_id_source};
  if (!id) return;
  const started = Date.now();
  const press = () => {{
    const found = document.getElementById(id);
    const button = found && (found.tagName === "BUTTON" ? found : found.querySelector("button"));
    if (button && button.offsetParent !== null) {{
      {"button.scrollIntoView({behavior: 'smooth', block: 'start'});" if scroll else ""}
      setTimeout(() => button.click(), 150);
      return;
    }}
    if (Date.now() - started < {CLICK_WAIT_MS}) setTimeout(press, 100);
  }};
  press();
}}"""


BASE_URL_JS = "(...values) => [...values.slice(0, -1), window.location.origin + window.location.pathname]"


# ---------------------------------------------------------------------------------------------
# Restoring a link


def query_items(request: gr.Request | None) -> list[tuple[str, str]]:
    """The page address's query as (key, value) pairs, repeats kept."""
    if request is None:
        return []
    params = getattr(request, "query_params", None) or {}
    if hasattr(params, "multi_items"):
        return list(params.multi_items())
    return [(key, value) for key, values in dict(params).items()
            for value in (values if isinstance(values, list) else [values])]


def notice_markdown(link: Link) -> str:
    lines = "\n".join(f"- {escape(problem)}" for problem in link.problems)
    return f"**Parts of this link could not be used:**\n\n{lines}"


# ---------------------------------------------------------------------------------------------
# Python snippets


def python_snippet(tab_id: str, fields: Sequence[Field], values: Mapping[str, Any], base_url: str,
                   snippet: Callable[[dict], list[str]]) -> str:
    """A gradio_client script that repeats the tab's run through its API (the same settings as the page):
    a link to the run, a client, then the tab's own lines (`Controls.snippet`)."""
    values = {**{field.key: field.default for field in fields}, **values}
    link = f"{base_url}?{encode_link(tab_id, fields, values)}"
    body = snippet(values)
    return "\n".join(["from gradio_client import Client", "", f"# The same run in the browser: {link}",
                      f"client = Client({base_url!r})", *body]) + "\n"


# ---------------------------------------------------------------------------------------------
# Layout and wiring


@dataclass
class ShareTools:
    link: gr.Textbox
    copy_link: gr.Button
    show_python: gr.Button
    code: gr.Code
    base: gr.Textbox


def build_tools(tab_id: str) -> ShareTools:
    """The "Share" accordion at the top of a tab; wired by wire_tab once the tab is built."""
    with gr.Accordion("Share this run: link and Python", open=False, elem_id=f"{tab_id}-share"):
        gr.Markdown("The page address always holds this tab's settings: copy it, put it on a slide, and opening "
                    "it restores the settings and runs them. **Copy as Python** writes a `gradio_client` script "
                    "that repeats the run through the API.")
        with gr.Row():
            copy_link = gr.Button("Copy link", elem_id=f"{tab_id}-copy-link", scale=1)
            link = gr.Textbox(label="Link", interactive=False, elem_id=f"{tab_id}-link", scale=4,
                              buttons=["copy"])
        show_python = gr.Button("Copy as Python", elem_id=f"{tab_id}-copy-python")
        code = gr.Code(language="python", label="gradio_client script", interactive=False, elem_id=f"{tab_id}-python",
                       buttons=["copy"])
        base = gr.Textbox(visible=False)
    return ShareTools(link, copy_link, show_python, code, base)


def wire_tab(tab_id: str, tab: gr.Tab, controls: Controls, tools: ShareTools) -> list[Field]:
    """Keep the address in sync with the tab and connect its Share buttons; returns the tab's fields."""
    fields = fields_of(controls)
    inputs = list(controls.inputs.values())
    builder = link_builder_js(tab_id, fields)
    sync = sync_js(builder)
    for component in inputs:  # change, not input: a paste or a value set by the app counts too
        component.change(None, inputs, None, js=sync, api_visibility="private", queue=False)
    controls.run.click(None, inputs, None, js=sync, api_visibility="private", queue=False)
    tab.select(None, inputs, None, js=sync, api_visibility="private", queue=False)
    tools.copy_link.click(None, inputs + [tools.base], tools.link, js=copy_link_js(builder),
                          api_visibility="private", queue=False)

    def show_python(*raw):
        return python_snippet(tab_id, fields, typed_values(fields, raw[:-1]), raw[-1], controls.snippet)

    tools.show_python.click(show_python, inputs + [tools.base], tools.code, js=BASE_URL_JS,
                            api_visibility="private", queue=False)
    return fields


def run_on_load(link: Link, controls: Mapping[str, Controls]) -> str:
    """The run button to press once the page is open: the link's tab when the link asks for a run, else the
    first tab with its defaults, so that a new visitor lands on a result rather than an empty page."""
    if link.tab:
        return controls[link.tab].run.elem_id if link.run else ""
    return "" if link.problems else next(iter(controls.values())).run.elem_id


def wire_restore(app: gr.Blocks, tabs: gr.Tabs, notice: gr.Markdown, run_target: gr.Textbox,
                 controls: Mapping[str, Controls], fields: Mapping[str, Sequence[Field]]) -> None:
    """On page load: read the address, select its tab, set its inputs, say what was wrong, then run it."""
    outputs = [tabs, notice, run_target] + [c for tab in controls.values() for c in tab.inputs.values()]

    def restore(request: gr.Request):
        link = decode_link(query_items(request), fields, ignore=FOREIGN_KEYS)
        if link.problems:
            gr.Warning("Parts of this link could not be used; see the note at the top of the page.")
        head = [gr.Tabs(selected=link.tab) if link.tab else gr.skip(),
                gr.update(value=notice_markdown(link), visible=True) if link.problems else gr.skip(),
                run_on_load(link, controls)]
        rest = []
        for tab_id, tab in controls.items():
            if tab_id == link.tab:
                rest += updates_for(tab, fields[tab_id], link.values)
            else:
                rest += [gr.skip()] * len(tab.inputs)
        return head + rest

    app.load(restore, None, outputs, api_visibility="private", show_progress="hidden").then(
        None, [run_target], None, js=click_js("values[0]", restored=True), api_visibility="private")
