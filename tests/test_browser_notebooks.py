"""The notebooks as a reader meets them: JupyterLab in headless Chromium, driven by Selenium.

Every notebook opens without a "Select Kernel" dialog and without an unsaved-changes mark. Every notebook with an
explorer (a cell calling ``explore(``) is run with Run > Run All Cells; once the kernel is idle, no cell output holds
the same figure twice, no image is blank, the widget views render (sliders with readable labels, no "Error displaying
widget", no ``interactive(children=...)`` text), and pressing an arrow key on a focused slider redraws the figure.
These Run All runs stand in for nbval's run of the same notebooks, which ``conftest.py`` deselects when both are
collected: a cell's error fails the test here just as it fails nbval.

The lab server runs on 127.0.0.1 (free port, token) over a copy of ``notebooks/`` and ``jupytext.toml`` (JupyterLab
autosaves, and must not write into the repository), with ``RMLAB_QUICK=1`` and without ``RMLAB_HEADLESS`` and
``MPLBACKEND``, so the explorers are real widgets drawn by the inline backend. Chromium and its driver come from
Debian's ``chromium`` and ``chromium-driver`` packages (``make browser`` installs them; ``make test`` depends on it).
The fixtures stop the server, its kernels and the browser by PID whatever happens. Screenshots of each explorer
(before and after the slider moved) are left in pytest's temporary folder.
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPLORER_NOTEBOOKS = [p for p in NOTEBOOKS if any("explore(" in c.source for c in nbformat.read(p, as_version=4).cells)]
RUN_ALL_TIMEOUT_S = 600       # a hang guard: the slowest Run All (09, its runs not cached yet) took 152 s on an
                              # AVX-512 machine (2026-12-02), and CI's CPUs are up to 2x slower
REDRAW_TIMEOUT_S = 60
MIN_SLIDER_WIDTH_PX = 300     # a slider this wide moves in fine steps under a short drag


# --- processes -------------------------------------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of ``pid`` (from /proc), children first."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def stop(pid: int, *, grace_s: float = 15.0) -> None:
    """SIGTERM ``pid``, wait up to ``grace_s`` for it to exit, then SIGKILL it and every descendant still alive
    (a lab server's kernels run in their own sessions, so a process-group kill would miss them)."""
    family = [pid] + descendants(pid)
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in family):
        time.sleep(0.2)
    for p in family:
        _signal(p, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fixtures --------------------------------------------------------------------------------------------------------

@dataclass
class Lab:
    url: str
    token: str
    notebooks: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "jupytext.toml", home)
    shutil.copytree(ROOT / "notebooks", home / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for folder in ("config", "runtime", "settings/@jupyterlab/apputils-extension", "workspaces"):
        (home / folder).mkdir(parents=True)
    # no "get notified about Jupyter news?" toast over the notebook (nor a request to the news feed)
    notifications = home / "settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notifications.write_text('{"fetchNews": "false"}')
    env = {k: v for k, v in os.environ.items() if k not in ("RMLAB_HEADLESS", "MPLBACKEND")}
    env.update(RMLAB_QUICK="1", JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    port, token = free_port(), secrets.token_hex(16)
    log = home / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home / 'notebooks'}",
             "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True",
             "--LabApp.extension_manager=readonly"],
            cwd=home / "notebooks", env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_server(url, token, server, log)
        yield Lab(url, token, home / "notebooks")
    finally:
        stop(server.pid)


def _wait_for_server(url: str, token: str, server: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"{', '.join(missing)} missing: run `make browser` (apt-get install chromium chromium-driver)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    service = Service(str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    driver_pid = service.process.pid
    try:
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            stop(driver_pid, grace_s=5)


# --- the notebook as seen in the page --------------------------------------------------------------------------------

PANEL_STATE_JS = """
const app = window.jupyterapp, w = app && app.shell.currentWidget;
if (!w || !w.context || !w.sessionContext || !w.context.isReady) return null;
const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
const codeCells = w.content.widgets.filter(c => c.model.type === 'code');
const tab = document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current');
return {path: w.context.path, kernel: kernel ? kernel.status : null, modelDirty: w.context.model.dirty,
        tabDirty: !!(tab && tab.classList.contains('jp-mod-dirty')),
        dialogs: Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText),
        executed: codeCells.filter(c => c.model.executionCount !== null).length, codeCells: codeCells.length,
        errors: codeCells.flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                        .map(o => o.ename + ': ' + o.evalue))};
"""

CELL_OUTPUTS_JS = """
const w = window.jupyterapp.shell.currentWidget;
return w.content.widgets.map(c => c.model.type !== 'code' ? null : {
    source: c.model.sharedModel.getSource(),
    images: Array.from(c.node.querySelectorAll('.jp-Cell-outputArea img')).map(i => i.src),
    text: c.outputArea.node.innerText,
    sliders: Array.from(c.node.querySelectorAll('.jp-Cell-outputArea .widget-slider')).map(s => {
        const label = s.querySelector('.widget-label'), track = s.querySelector('.noUi-target');
        return {label: label.innerText, labelClipped: label.scrollWidth > label.clientWidth + 1,
                trackWidth: track ? track.getBoundingClientRect().width : 0,
                readout: s.querySelector('.widget-readout').innerText};
    })});
"""


def wait_for(driver, script: str, done, timeout_s: float, what: str, *args):
    """Poll ``script`` until ``done(result)``; fail with the last result after ``timeout_s``."""
    deadline, result = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        result = driver.execute_script(script, *args)
        if result is not None and done(result):
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}; last state: {result}")


def open_notebook(driver, lab: Lab, name: str) -> dict:
    """Open ``name`` in a fresh workspace and wait until its kernel is idle (or a dialog asks for one)."""
    driver.get(f"{lab.url}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={lab.token}")
    wait_for(driver, PANEL_STATE_JS, lambda s: s["path"] == name and (s["kernel"] == "idle" or s["dialogs"]),
             120, f"{name} to open with an idle kernel")
    time.sleep(3)     # JupyterLab writes the kernel's metadata into the model after the kernel info reply
    return driver.execute_script(PANEL_STATE_JS)


def run_all_cells(driver, name: str) -> None:
    """Run > Run All Cells from the menu bar, then wait until every code cell ran and the kernel is idle."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel') and text()='Run']").click()
    driver.find_element(By.XPATH, "//div[contains(@class, 'lm-Menu-itemLabel') and text()='Run All Cells']").click()
    state = wait_for(driver, PANEL_STATE_JS,
                     lambda s: s["errors"] or (s["executed"] == s["codeCells"] and s["kernel"] == "idle"),
                     RUN_ALL_TIMEOUT_S, f"Run All of {name}")
    assert not state["errors"], f"{name}: a cell failed under Run All: {state['errors']}"


def shut_down_kernel(driver) -> None:
    driver.execute_async_script("const done = arguments[arguments.length - 1];"
                                "window.jupyterapp.shell.currentWidget.sessionContext.shutdown().then(done, done);")


def pixels(src: str) -> np.ndarray:
    assert src.startswith("data:image/png;base64,"), f"unexpected image source {src[:60]!r}"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGBA"))


def is_blank(image: np.ndarray) -> bool:
    return bool((image == image[0, 0]).all())


def explorer_cells(cells: list) -> list[int]:
    return [i for i, c in enumerate(cells) if c and "explore(" in c["source"]]


def check_outputs(name: str, cells: list) -> None:
    """Each figure once per cell, no blank image, no widget error text, explorers render readable wide sliders."""
    for index, cell in enumerate(cells):
        if cell is None:
            continue
        images = [pixels(src) for src in cell["images"]]
        where = f"{name} cell {index} ({cell['source'].splitlines()[0][:60]!r})"
        assert not [i for i, im in enumerate(images) if is_blank(im)], f"{where}: blank image output"
        for a, b in itertools.combinations(images, 2):
            assert not (a.shape == b.shape and (a == b).all()), f"{where}: the same figure is shown twice"
        for bad in ("Error displaying widget", "interactive(children="):
            assert bad not in cell["text"], f"{where}: output shows {bad!r}"
    for index in explorer_cells(cells):
        cell, where = cells[index], f"{name} explorer (cell {index})"
        assert len(cell["images"]) == 1, f"{where}: {len(cell['images'])} figures under the sliders, expected 1"
        assert cell["sliders"], f"{where}: no slider rendered"
        for slider in cell["sliders"]:
            assert not slider["labelClipped"], f"{where}: slider label {slider['label']!r} is cut"
            assert slider["trackWidth"] >= MIN_SLIDER_WIDTH_PX, \
                f"{where}: slider {slider['label']!r} is {slider['trackWidth']:.0f} px wide"


def press_right_on_first_slider(driver, cell_index: int) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    cell = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")[cell_index]
    handle = cell.find_element(By.CSS_SELECTOR, ".jp-Cell-outputArea .widget-slider .noUi-handle")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus();", handle)
    handle.send_keys(Keys.ARROW_RIGHT)


def screenshot(driver, cell_index: int, path: Path) -> None:
    from selenium.webdriver.common.by import By

    cell = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")[cell_index]
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", cell)
    time.sleep(0.5)
    cell.screenshot(str(path))


# --- tests -----------------------------------------------------------------------------------------------------------

def assert_opened_cleanly(driver, path: Path, state: dict) -> None:
    """No dialog (a "Select Kernel" one, say), an idle kernel, and no unsaved-changes mark right after opening."""
    assert not state["dialogs"], f"{path.name}: a dialog opened: {state['dialogs']}"
    assert state["kernel"] == "idle"
    if state["tabDirty"] or state["modelDirty"]:
        opened = driver.execute_script("return window.jupyterapp.shell.currentWidget.context.model.toJSON().metadata")
        on_disk = nbformat.read(path, as_version=4).metadata
        changed = {k: (on_disk.get(k), opened.get(k)) for k in {*opened, *on_disk} if opened.get(k) != on_disk.get(k)}
        pytest.fail(f"{path.name} shows unsaved changes on opening; metadata (in the file, once opened): {changed}")


# the explorer notebooks get the same check in their Run All test, which opens them anyway
@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p not in EXPLORER_NOTEBOOKS], ids=lambda p: p.stem)
def test_opening_a_notebook_shows_no_kernel_dialog_and_no_unsaved_changes(browser, lab, path):
    state = open_notebook(browser, lab, path.name)
    try:
        assert_opened_cleanly(browser, path, state)
    finally:
        shut_down_kernel(browser)


@pytest.mark.parametrize("path", EXPLORER_NOTEBOOKS, ids=lambda p: p.stem)
def test_run_all_shows_each_figure_once_and_the_explorer_redraws(browser, lab, path, tmp_path):
    state = open_notebook(browser, lab, path.name)
    try:
        assert_opened_cleanly(browser, path, state)
        run_all_cells(browser, path.name)
        explorers = explorer_cells(browser.execute_script(CELL_OUTPUTS_JS))
        assert explorers, f"{path.name}: no explorer cell found"
        cells = wait_for(browser, CELL_OUTPUTS_JS, lambda cs: all(cs[i]["images"] for i in explorers), 30,
                         f"the explorers of {path.name} to draw")
        for i in explorers:
            screenshot(browser, i, tmp_path / f"{path.stem}-cell{i}-before.png")
        check_outputs(path.name, cells)

        first = explorers[0]
        before = cells[first]
        press_right_on_first_slider(browser, first)
        wait_for(browser, CELL_OUTPUTS_JS, lambda cs: cs[first]["images"] and cs[first]["images"] != before["images"],
                 REDRAW_TIMEOUT_S, f"{path.name}'s explorer to redraw after an arrow key")
        wait_for(browser, PANEL_STATE_JS, lambda s: s["kernel"] == "idle", REDRAW_TIMEOUT_S, "the kernel to settle")
        after = browser.execute_script(CELL_OUTPUTS_JS)
        screenshot(browser, first, tmp_path / f"{path.stem}-cell{first}-after.png")
        assert after[first]["sliders"][0]["readout"] != before["sliders"][0]["readout"], "the slider did not move"
        check_outputs(path.name, after)
        assert not (pixels(after[first]["images"][0]) == pixels(before["images"][0])).all(), \
            f"{path.name}: moving a slider did not change the figure"
    finally:
        shut_down_kernel(browser)
