"""JupyterLab in headless Chromium: run 02_blast_radius, change the seed in the widget, see it redraw.

Starts a throwaway JupyterLab on 127.0.0.1 (free port, token, state dirs in tmp) serving a temp
copy of the notebook pointed at a small sample, drives it with Playwright and Debian's Chromium
(never a downloaded browser), and saves screenshots under ``tests/_artifacts/``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from _notebook_helpers import NOTEBOOKS, with_parameters

import forensics as fx

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
TOKEN = "FXTESTTOKEN"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},  # render every cell
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},  # never write back
}


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found: apt-get install -y chromium (Debian package)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab serving a copy of 02_blast_radius pointed at a small sample."""
    _need_chromium()
    root = tmp_path_factory.mktemp("lab_root")
    state = tmp_path_factory.mktemp("lab_state")
    info = fx.sample.write(root / "sample", events=2_500, days=2, file_minutes=60)
    nb = nbformat.read(NOTEBOOKS / "02_blast_radius.ipynb", as_version=4)
    nb = with_parameters(
        nb, DATA=str(root / "sample"), SEED=info.story["leaked_access_key_id"], SINCE=None
    )
    nbformat.write(nb, root / "02_blast_radius.ipynb")
    nb = nbformat.read(NOTEBOOKS / "01_principal_timeline.ipynb", as_version=4)
    nb = with_parameters(
        nb, DATA=str(root / "sample"), PRINCIPAL=info.story["compromised_user_arn"]
    )
    nbformat.write(nb, root / "01_principal_timeline.ipynb")
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        IPYTHONDIR=str(state / "ipython"),
        XDG_CONFIG_HOME=str(state / "xdg-config"),
        XDG_CACHE_HOME=str(state / "xdg-cache"),
    )
    (state / "config" / "labconfig").mkdir(parents=True)
    (state / "config" / "labconfig" / "default_setting_overrides.json").write_text(
        json.dumps(OVERRIDES)
    )
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.token={TOKEN}",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--allow-root",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = (state / "lab.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"jupyter lab did not start: {(state / 'lab.log').read_text()}"
                ) from None
            time.sleep(0.2)
    yield {"url": url, "story": info.story, "log": state / "lab.log"}
    proc.terminate()  # shuts its kernels down too
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _kernel_idle(page, timeout=120_000) -> None:
    # the toolbar indicator says "idle" before a kernel exists: wait on the status bar text
    page.wait_for_function(
        """() => { const s = document.querySelector('#jp-main-statusbar');
                   return s && /\\|\\s*Idle/.test(s.innerText)
                          && !/No Kernel|Initializing/.test(s.innerText); }""",
        timeout=timeout,
    )


def _chart_svg(page, selector: str) -> str:
    """The SVG a JupyterChart (or an image output) shows under ``selector``."""
    loc = page.locator(f"{selector} svg.marks, {selector} img").first
    loc.wait_for(state="attached", timeout=60_000)
    if loc.evaluate("e => e.tagName") == "IMG":
        head, data = loc.get_attribute("src").split(",", 1)
        return base64.b64decode(data).decode() if ";base64" in head else data
    return loc.evaluate("e => e.outerHTML")


def _open_tab(page, name: str) -> None:
    page.locator(".fx-tabs .lm-TabBar-tab", has_text=re.compile(f"^{name}")).click()


def _run_all(page, url: str) -> None:
    page.goto(url)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    _kernel_idle(page)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_function(
        """() => { const p = [...document.querySelectorAll(
                       '.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                   return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.innerText)); }""",
        timeout=240_000,
    )
    _kernel_idle(page)
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
    assert errors.count() == 0, errors.all_inner_texts()
    assert page.locator(".jp-OutputArea-output", has_text=re.compile(r"^\s*ok\s*$")).count() == 1


def test_principal_explorer_in_a_real_browser(lab):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            _run_all(page, f"{lab['url']}/lab/tree/01_principal_timeline.ipynb?token={TOKEN}&reset")
            ui = page.locator(".fx-explore")
            expect(ui.locator(".fx-table table")).to_be_visible(timeout=60_000)
            status0 = ui.locator(".fx-status").inner_text()
            table0 = ui.locator(".fx-table").inner_html()
            svg0 = _chart_svg(page, ".fx-explore .fx-timeline")
            assert "by service" in svg0 and "time (UTC)" in svg0

            # a filter change through the dropdown redraws the count, the timeline and the table
            ui.locator(".fx-error select").select_option(label="failed (any error)")
            page.wait_for_function(
                "([sel, old]) => document.querySelector(sel).innerText !== old",
                arg=[".fx-explore .fx-status", status0],
                timeout=60_000,
            )
            assert ui.locator(".fx-table").inner_html() != table0
            page.wait_for_function(
                """([sel, old]) => { const s = document.querySelector(sel);
                                     return s && s.outerHTML !== old; }""",
                arg=[".fx-explore .fx-timeline svg.marks", svg0],
                timeout=60_000,
            )

            # picking an event shows its original record
            ui.locator(".fx-event select").select_option(index=0)
            expect(ui.locator(".fx-record pre")).to_contain_text('"eventID"', timeout=60_000)
            expect(ui.locator(".fx-record pre")).to_contain_text('"errorCode"')

            # dragging on the overview strip narrows the table to that window
            ui.locator(".fx-error select").select_option(label="all events")
            page.wait_for_function(  # the status names the active filters
                "() => !/errors:/.test(document.querySelector('.fx-explore .fx-status').innerText)",
                timeout=60_000,
            )
            area = page.locator(".fx-explore .fx-timeline g.mark-area path").first
            area.scroll_into_view_if_needed()
            strip = area.bounding_box()  # the overview strip's area mark
            y = strip["y"] + strip["height"] / 2
            page.mouse.move(strip["x"] + strip["width"] * 0.35, y)
            page.mouse.down()
            page.mouse.move(strip["x"] + strip["width"] * 0.55, y, steps=8)
            page.mouse.up()
            expect(ui.locator(".fx-brush")).to_contain_text("timeline selection", timeout=60_000)
            ui.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_01_explorer.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_01_failure.png"))
            raise
        finally:
            browser.close()


def test_blast_radius_notebook_in_a_real_browser(lab):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    story = lab["story"]
    seed, other = story["leaked_access_key_id"], story["compromised_user_arn"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            _run_all(page, f"{lab['url']}/lab/tree/02_blast_radius.ipynb?token={TOKEN}&reset")

            widget = page.locator(".fx-blast")
            expect(widget).to_be_visible(timeout=60_000)
            expect(page.locator(".fx-blast .fx-status")).to_contain_text(seed, timeout=60_000)
            expect(page.locator(".fx-blast .fx-credentials table")).to_be_visible()
            creds0 = page.locator(".fx-blast .fx-credentials").inner_html()
            _open_tab(page, "timeline")
            svg0 = _chart_svg(page, ".fx-blast .fx-timeline")
            assert "time (UTC)" in svg0 and seed in svg0
            _open_tab(page, "events")
            table0 = page.locator(".fx-blast .fx-table").inner_html()
            widget.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_02_before.png"), full_page=False)

            # change the seed through the widget, as a responder would: type it and press Enter
            box = page.locator(".fx-blast .fx-seed input")
            box.fill(other)
            box.press("Enter")
            expect(page.locator(".fx-blast .fx-status")).to_contain_text(other, timeout=60_000)
            _kernel_idle(page)
            table1 = page.locator(".fx-blast .fx-table").inner_html()
            assert table1 != table0, "the events table did not change with the seed"
            _open_tab(page, "credentials")
            assert page.locator(".fx-blast .fx-credentials").inner_html() != creds0
            _open_tab(page, "timeline")
            page.wait_for_function(
                """([sel, old]) => { const s = document.querySelector(sel);
                                     return s && s.outerHTML !== old; }""",
                arg=[".fx-blast .fx-timeline svg.marks", svg0],
                timeout=60_000,
            )
            svg1 = _chart_svg(page, ".fx-blast .fx-timeline")
            assert svg1 != svg0 and "ci-deploy" in svg1
            _open_tab(page, "graph")
            graph = _chart_svg(page, ".fx-blast .fx-graph")
            assert "Blast radius graph" in graph
            widget.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_02_after.png"), full_page=False)
            widget.screenshot(path=str(ARTIFACTS / "browser_02_widget.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_02_failure.png"))
            raise
        finally:
            browser.close()
    assert not problems, problems
