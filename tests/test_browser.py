"""JupyterLab in headless Chromium: every notebook, as a responder sees it.

Starts one throwaway JupyterLab on 127.0.0.1 (free port, token, state dirs in tmp) serving temp
copies of the four notebooks pointed at a small sample and at the Invictus trail (with their
checks appended, as in ``test_notebooks.py``), runs each with Playwright and Debian's Chromium
(never a downloaded browser), checks what is on the screen in the DOM and the charts' SVG (no
repeated axis or legend text, no table cut off, a row click opens its event, a bad seed clears
the blast-radius widget), drives the widgets, and saves screenshots under ``tests/_artifacts/``.
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
from urllib.parse import unquote

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


# The notebooks each browser test runs: (folder, notebook) -> parameters. "sample" is a small
# generated sample (its story gives the seeds); "invictus" is the Invictus IR trail (external).
INVICTUS_USER = "arn:aws:iam::123837392027:user/bert-jan"
INVICTUS_KEY = "AKIATFQR7NSC8Q4X20BJ"


def _write_notebooks(folder: Path, data: Path, values: dict[str, dict]) -> None:
    from _notebook_checks import with_checks

    folder.mkdir(parents=True, exist_ok=True)
    for name, params in values.items():
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nb = with_checks(with_parameters(nb, DATA=str(data), **params), name)
        nbformat.write(nb, folder / name)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, external_root_or_none):
    """One JupyterLab for every browser test: the four notebooks on a small sample and, when the
    external data is there, on the Invictus trail (checks appended, as in test_notebooks)."""
    _need_chromium()
    root = tmp_path_factory.mktemp("lab_root")
    state = tmp_path_factory.mktemp("lab_state")
    info = fx.sample.write(root / "data" / "sample", events=2_500, days=2, file_minutes=60)
    story = info.story
    _write_notebooks(
        root / "sample",
        root / "data" / "sample",
        {
            "00_start_here.ipynb": {},
            "01_principal_timeline.ipynb": {"PRINCIPAL": story["compromised_user_arn"]},
            "02_blast_radius.ipynb": {"SEED": story["leaked_access_key_id"], "SINCE": None},
            "03_ticket_export.ipynb": {
                "SEED": story["leaked_access_key_id"],
                "SINCE": None,
                "OUT": str(root / "out" / "sample"),
            },
        },
    )
    if external_root_or_none is not None:
        _write_notebooks(
            root / "invictus",
            external_root_or_none / "invictus-ir-aws_dataset",
            {
                "00_start_here.ipynb": {},
                "01_principal_timeline.ipynb": {"PRINCIPAL": INVICTUS_USER},
                "02_blast_radius.ipynb": {"SEED": INVICTUS_KEY, "SINCE": None},
                "03_ticket_export.ipynb": {
                    "SEED": INVICTUS_KEY,
                    "SINCE": None,
                    "OUT": str(root / "out" / "invictus"),
                },
            },
        )
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
    yield {
        "url": url,
        "story": story,
        "log": state / "lab.log",
        "root": root,
        "external": external_root_or_none is not None,
    }
    proc.terminate()  # shuts its kernels down too
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def external_root_or_none():
    """The external data folder, or None (the Invictus runs then skip; CI=true fails)."""
    from conftest import external_root

    root = external_root()
    if root.exists():
        return root
    if os.environ.get("CI") == "true":
        pytest.fail(f"external data not found at {root}")
    return None


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (a page per test)."""
    from playwright.sync_api import sync_playwright

    _need_chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


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


_TABLES_CUT_OFF = """() => {
  const bad = [];
  for (const t of document.querySelectorAll('.jp-OutputArea-output table')) {
    const box = t.closest('.fx-root') || t.closest('.jp-OutputArea-output');
    if (!t.offsetParent) continue;  // in a closed tab or a collapsed section
    if (t.getBoundingClientRect().right <= box.getBoundingClientRect().right + 1) continue;
    let el = t.parentElement, scrolls = false;
    while (el && el !== box.parentElement) {
      const ox = getComputedStyle(el).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth) { scrolls = true; break; }
      el = el.parentElement;
    }
    if (!scrolls) bad.push(t.innerText.slice(0, 120));
  }
  return bad;
}"""

_OUTPUT_SVGS = """() => [...document.querySelectorAll(
    '.jp-OutputArea-output img, .jp-OutputArea-output svg.marks')]
  .filter(e => e.tagName !== 'IMG' || e.src.startsWith('data:image/svg'))
  .map(e => e.tagName === 'IMG' ? e.src : e.outerHTML)"""


def _svgs(page) -> list[str]:
    """Every chart the notebook shows, as SVG text (static images and live Vega views)."""
    out = []
    for item in page.evaluate(_OUTPUT_SVGS):
        if item.startswith("data:"):
            head, data = item.split(",", 1)
            item = base64.b64decode(data).decode() if ";base64" in head else unquote(data)
        out.append(item)
    return out


def _check_screen(page, *, charts_expected: bool = True) -> None:
    """What every notebook must look like: no repeated axis or legend text, no table cut off."""
    from _svg_helpers import axis_labels, duplicates, legend_labels

    charts = _svgs(page)
    assert charts or not charts_expected, "no chart drawn"
    for svg in charts:
        for labels in axis_labels(svg):
            assert not duplicates(labels), f"repeated axis labels {labels}"
        for labels in legend_labels(svg):
            assert not duplicates(labels), f"repeated legend labels {labels}"
    assert page.evaluate(_TABLES_CUT_OFF) == [], "a table is cut off (no room, no scrollbar)"


def _screenshot_outputs(page, stem: Path) -> None:
    """One screenshot per chart or widget output (the notebook panel scrolls: no full page)."""
    outputs = page.locator(
        ".jp-OutputArea-output:has(img), .jp-OutputArea-output:has(svg.marks), "
        ".jp-OutputArea-output:has(.fx-root)"
    )
    for i in range(min(outputs.count(), 12)):
        out = outputs.nth(i)
        out.scroll_into_view_if_needed()
        out.screenshot(path=f"{stem}_{i:02d}.png")


def _lab_url(lab, path: str) -> str:
    return f"{lab['url']}/lab/tree/{path}?token={TOKEN}&reset"


NOTEBOOK_RUNS = [
    (folder, name)
    for folder in ("sample", "invictus")
    for name in (
        "00_start_here.ipynb",
        "01_principal_timeline.ipynb",
        "02_blast_radius.ipynb",
        "03_ticket_export.ipynb",
    )
]


@pytest.mark.parametrize(
    ("folder", "name"), NOTEBOOK_RUNS, ids=[f"{f}-{n[:2]}" for f, n in NOTEBOOK_RUNS]
)
def test_each_notebook_reads_right_in_a_real_browser(lab, browser, folder, name):
    if folder == "invictus" and not lab["external"]:
        pytest.skip("external data not found (../shared/data/external)")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    shot = ARTIFACTS / f"browser_{folder}_{name[:2]}"
    try:
        _run_all(page, _lab_url(lab, f"{folder}/{name}"))
        _check_screen(page, charts_expected=not name.startswith("03"))  # 03 writes files
        _screenshot_outputs(page, shot)
        if name.startswith("01"):
            _row_click_opens_the_event(page)
            if folder == "sample":
                _explorer_filters_and_brush(page)
        if name.startswith("02"):
            if folder == "sample":
                _blast_seed_change(page, lab["story"])
            _bad_seed_clears_the_widget(page)
    except Exception:
        page.screenshot(path=str(shot) + "_failure.png", full_page=True)
        raise
    finally:
        page.close()
    assert not problems, problems


def _row_click_opens_the_event(page) -> None:
    from playwright.sync_api import expect

    ui = page.locator(".fx-explore").first
    row = ui.locator(".fx-clicktable tbody tr").nth(2)
    row.scroll_into_view_if_needed()
    event_id = row.locator("td").last.inner_text().strip()
    row.click()
    expect(ui.locator(".fx-record pre")).to_contain_text(event_id, timeout=60_000)
    expect(ui.locator(".fx-clicktable tbody tr.fx-selected")).to_have_count(1)
    assert ui.locator(".fx-event select").count() == 0  # no second list of the same rows
    expect(ui.locator(".fx-annotate")).to_be_visible()


def _bad_seed_clears_the_widget(page) -> None:
    from playwright.sync_api import expect

    widget = page.locator(".fx-blast").first
    _open_tab(page, "credentials")
    expect(widget.locator(".fx-credentials table")).to_be_visible(timeout=60_000)
    box = widget.locator(".fx-seed input")
    box.fill("AKIANOSUCHKEY0000000")
    box.press("Enter")
    expect(widget.locator(".fx-status .fx-problem")).to_be_visible(timeout=60_000)
    _kernel_idle(page)
    expect(widget.locator(".fx-credentials table")).to_have_count(0)
    assert "no result for" in widget.locator(".fx-credentials").inner_text()
    expect(widget.locator(".fx-export")).to_be_disabled()
    widget.scroll_into_view_if_needed()
    widget.screenshot(path=str(ARTIFACTS / "browser_02_bad_seed.png"))


def _explorer_filters_and_brush(page) -> None:
    """01 on the sample: a filter redraws count, timeline and table; a drag narrows the table."""
    from playwright.sync_api import expect

    ui = page.locator(".fx-explore")
    expect(ui.locator(".fx-table table")).to_be_visible(timeout=60_000)
    status0 = ui.locator(".fx-status").inner_text()
    table0 = ui.locator(".fx-table").inner_html()
    svg0 = _chart_svg(page, ".fx-explore .fx-timeline")
    assert "by service" in svg0 and "time (UTC)" in svg0

    # a filter change through the dropdown redraws the count, the timeline and the table
    ui.locator(".fx-error select").select_option(index=2)  # "failed (any error) (n)"
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
    # the service dropdown counts follow the selection: they add up to the failed calls
    labels = ui.locator(".fx-service select option").all_inner_texts()
    total = int(re.search(r"\(([\d,]+)\)", labels[0]).group(1).replace(",", ""))
    shown = int(
        re.search(r"([\d,]+)</b>", ui.locator(".fx-status").inner_html()).group(1).replace(",", "")
    )
    assert total == shown

    # clicking a row shows its original record
    ui.locator(".fx-clicktable tbody tr").first.click()
    expect(ui.locator(".fx-record pre")).to_contain_text('"eventID"', timeout=60_000)
    expect(ui.locator(".fx-record pre")).to_contain_text('"errorCode"')

    # dragging on the overview strip narrows the table to that window
    ui.locator(".fx-error select").select_option(index=0)  # "all events (n)"
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


def _blast_seed_change(page, story: dict) -> None:
    """02 on the sample: a new seed typed in the widget redraws every tab."""
    from playwright.sync_api import expect

    seed, other = story["leaked_access_key_id"], story["compromised_user_arn"]
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
    assert "credentials in order of first use" in graph
    from _svg_helpers import duplicates, legend_labels

    assert all(not duplicates(labels) for labels in legend_labels(graph))
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser_02_after.png"), full_page=False)
    widget.screenshot(path=str(ARTIFACTS / "browser_02_widget.png"))
