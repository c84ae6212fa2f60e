"""Full-page screenshots of what a student sees: every tab run with its defaults, every accordion open and
its buttons pressed, in the light theme, the dark theme and projector mode.

    .venv/bin/python scripts/screenshots.py                      # starts the app, writes screenshots/
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:7860/ --tabs diffusion --modes dark
    .venv/bin/python scripts/screenshots.py --readme             # also refreshes assets/screenshot.png

Files are named <mode>-<tab>.png. Open them and judge them as a student would: is every label readable,
does every picture show what its caption says?
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402 (after the path above)

# Per tab: its run button, then the buttons inside its accordions to press with their defaults, in order.
ACTIONS: dict[str, list[str]] = {
    "tokenization": ["tok-run", "tok-export", "tok-replay", "tok-decode", "tok-chat"],
    "attention": ["att-run", "att-focus-run", "att-compare-run", "att-lens-run", "att-bv-run"],
    "why": ["why-run", "why-ablate-run", "why-edit-run", "why-patch-run"],
    "sampling": ["samp-run", "samp-draw"],
    "diffusion": ["diff-run", "diff-compare", "diff-fwd-run", "diff-export"],
    "families": ["fam-play", "fam-compare", "fam-interp-run", "fam-arith-run", "fam-channels-run"],
}
MODES = {"light": "?__theme=light", "dark": "?__theme=dark", "projector": "?__theme=light&projector=1"}
BUSY = ".progress-text, .eta-bar, .pending, .generating"  # .generating: an output a handler is streaming into


def wait_idle(page, timeout: float = 240.0, quiet: float = 1.5) -> None:
    """Until no progress bar or pending output has been seen for `quiet` seconds (or `timeout`)."""
    deadline = time.monotonic() + timeout
    calm_since = None
    while time.monotonic() < deadline:
        busy = page.evaluate(f"""() => [...document.querySelectorAll({BUSY!r})]
                                 .some(e => e.offsetParent !== null)""")
        if busy:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return
        page.wait_for_timeout(250)
    print(f"  (still busy after {timeout:.0f} s)")


def open_accordions(page, tab_id: str) -> None:
    """Open every closed accordion of the tab (Gradio draws a closed one's arrow rotated by 90 degrees)."""
    panel = f'[role=tabpanel]:has(#{ACTIONS[tab_id][0]})'
    page.evaluate(f"""() => {{
        for (const button of document.querySelectorAll({panel!r} + ' button.label-wrap')) {{
            const icon = button.querySelector('.icon');
            if (icon && icon.style.transform.includes('90')) button.click();
        }}
    }}""")
    page.wait_for_timeout(600)


def shoot_tab(page, tab_id: str, path: Path) -> None:
    page.click(f'button[role=tab][data-tab-id="{tab_id}"]')
    page.wait_for_selector(f"#{ACTIONS[tab_id][0]}", timeout=30_000)
    for index, button in enumerate(ACTIONS[tab_id]):
        if index == 1:
            open_accordions(page, tab_id)
        started = time.monotonic()
        page.click(f"#{button}")
        page.wait_for_timeout(500)
        wait_idle(page)
        print(f"  {tab_id}: #{button} done in {time.monotonic() - started:.1f} s")
    open_accordions(page, tab_id)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(path), full_page=True)
    print(f"  wrote {path}")


def shoot(url: str, out: Path, tabs: list[str], modes: list[str], width: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for mode in modes:
            context = browser.new_context(viewport={"width": width, "height": 1000})
            page = context.new_page()
            page.goto(url.rstrip("/") + "/" + MODES[mode])
            page.wait_for_selector("#pg-header", timeout=60_000)
            for tab_id in tabs:
                path = out / f"{mode}-{tab_id}.png"
                shoot_tab(page, tab_id, path)
                written.append(path)
            context.close()
        browser.close()
    return written


def shoot_readme(url: str, path: Path) -> None:
    """The README's picture: the Tokenization tab after a run, at the top of the page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1150})
        page.goto(url.rstrip("/") + "/?__theme=light")
        page.click("#tok-run")
        page.wait_for_selector("#tok-chips .pg-chip", timeout=120_000)
        wait_idle(page)
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running app; by default one is started on a free port")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="folder for the PNGs")
    parser.add_argument("--tabs", default=",".join(ACTIONS), help="comma-separated tab ids")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: light, dark, projector")
    parser.add_argument("--width", type=int, default=1400, help="browser width in pixels")
    parser.add_argument("--readme", action="store_true", help="also refresh assets/screenshot.png")
    args = parser.parse_args()
    tabs = [t.strip() for t in args.tabs.split(",") if t.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for name, known in (("tab", ACTIONS), ("mode", MODES)):
        unknown = [value for value in (tabs if name == "tab" else modes) if value not in known]
        if unknown:
            parser.error(f"unknown {name} {', '.join(unknown)}: choose from {', '.join(known)}")

    def run(url: str) -> None:
        shoot(url, args.out, tabs, modes, args.width)
        if args.readme:
            shoot_readme(url, ROOT / "assets" / "screenshot.png")

    if args.url:
        run(args.url)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        with serve_app(args.out / "app.log") as (url, _):
            run(url)


if __name__ == "__main__":
    main()
