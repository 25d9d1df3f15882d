"""The notebooks as a student sees them: JupyterLab started the README's way (`i2dl start`), driven
in headless Chromium with Selenium (Debian `chromium` + `chromium-driver`; `.ci/run` installs them).

The solved notebooks are put into the student's working folder, opened, run top to bottom, saved,
their kernel shut down, and reopened; then the notebooks' TensorBoard instructions are followed as
written. A separate test opens the HTML feedback of a graded demo submission. Screenshots of every
step go to $I2DL_SCREENSHOTS (default: a folder under pytest's tmp_path), printed at the start.
"""
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from i2dl_course import examples
from i2dl_utils.training import CellProgress
from grading import ASSIGNMENT as TINY, FIXTURE, course_copy, table
from notebooks import RELEASE, SOURCE

selenium = pytest.importorskip("selenium", reason="pip install selenium (pinned in constraints.txt)")
from selenium import webdriver                                  # noqa: E402
from selenium.webdriver.chrome.service import Service          # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By                    # noqa: E402
from selenium.webdriver.common.keys import Keys                # noqa: E402

I2DL = str(Path(sys.executable).parent / "i2dl")
STDERR = "application/vnd.jupyter.stderr"
WIDGET_ERRORS = ("Error displaying widget", "model not found")
RUN_TIMEOUT = 1200           # seconds for one notebook's "Run All" (about 1.5 min here), not a timed assert

# The notebook's last cell (`i2dl check` on the saved notebook): every test with full points.
CHECKED = r"total: ([1-9]\d*) / \1\b"
# What a student must see after running each solved notebook, without expanding anything.
RESULTS = {
    "1_autoencoder.ipynb": [r"baseline: val accuracy 0\.\d{3}", r"transfer: val accuracy 0\.\d{3}",
                            r"model +val accuracy \(300 images\)(\n.+ 0\.\d{3}){4}", CHECKED],
    "2_batchnorm_dropout.ipynb": [r"train loss +val loss +val accuracy\n.*last +lowest +last +epoch 1 +best +last"
                                  r"(\n +(plain|batchnorm|dropout)( +\d\.\d{3}){6}){3}", CHECKED],
}
# The trainings of each notebook, grouped by cell: one progress output per cell, a line per fit.
TRAININGS = {
    "1_autoencoder.ipynb": [["classifier"], ["autoencoder"], ["transfer"], ["augmented_scratch", "augmented_transfer"]],
    "2_batchnorm_dropout.ipynb": [["plain", "batchnorm", "dropout"]],
}
FIGURES = {"1_autoencoder.ipynb": 5, "2_batchnorm_dropout.ipynb": 1}


# ----------------------------------------------------------------------------- fixtures
class Shots:
    """Numbered screenshots of the page (or of one element) in one folder."""

    def __init__(self, driver, folder: Path):
        self.driver, self.folder, self.count = driver, folder, 0

    def __call__(self, name: str, element=None) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        (element.screenshot if element is not None else self.driver.save_screenshot)(str(path))
        return path


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory, pytestconfig) -> Path:
    folder = Path(os.environ.get("I2DL_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n[test_browser] screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def driver():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "needs Debian's chromium and chromium-driver (apt-get install chromium " \
                                      "chromium-driver; .ci/run installs them)"
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"i2dl-chromium-{os.getpid()}"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


class Lab:
    """JupyterLab as `i2dl start FOLDER` runs it (on a free port, without opening a browser)."""

    def __init__(self, folder: Path, home: Path, data_dir: Path):
        self.folder, self.home = folder, home
        self.exercise = folder / "exercise_08"
        self.tmp = home / "tmp"
        self.tmp.mkdir(parents=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("I2DL_PROGRESS_BAR", "JUPYTER_CONFIG_PATH")}
        env.update(I2DL_DATA_DIR=str(data_dir), TMPDIR=str(self.tmp),        # TensorBoard's info files go there
                   JUPYTER_CONFIG_DIR=str(home / "jupyter"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
        self.log = home / "server.log"
        self.stdout = home / "start.out"
        with open(self.log, "w") as log, open(self.stdout, "w") as out:
            self.process = subprocess.Popen([I2DL, "start", str(folder), "--port", str(self.port), "--no-browser"],
                                            stdout=out, stderr=log, env=env, cwd=home, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (match := re.search(r"http://127\.0\.0\.1:\d+/lab\?token=(\w+)", self.log.read_text())):
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not start:\n" + self.log.read_text()[-3000:]
            time.sleep(0.5)
        self.token = match.group(1)
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        return f"{self.base}/{path}?token={self.token}"

    def tensorboards(self) -> list:
        """TensorBoard processes started in this lab (from their info files): [{port, pid, cwd, ...}]."""
        infos = []
        for path in (self.tmp / ".tensorboard-info").glob("*.info"):
            info = json.loads(path.read_text())
            info["cwd"] = json.loads(base64.b64decode(info["cache_key"]))["working_directory"]
            infos.append(info)
        return infos

    def stop(self) -> None:
        pids = [info["pid"] for info in self.tensorboards()]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)      # the server shuts down its kernels and terminals
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in pids:                                 # a %tensorboard outlives its kernel
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, mnist_cache):
    """The solved notebooks in a student's working folder, opened with `i2dl start` (which keeps them)."""
    home = tmp_path_factory.mktemp("student")
    folder = home / "work"
    examples.write(folder, "", "exercise_08", examples.build(SOURCE, RELEASE))
    server = Lab(folder, home, mnist_cache.path.parent)
    yield server
    server.stop()


# ----------------------------------------------------------------------------- JupyterLab actions
def wait_for(condition, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(poll)


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def menu(driver, *labels: str, command: str) -> None:
    """Click a menu bar item, then the submenus `labels[1:]`, then the item running `command`."""
    driver.find_element(By.XPATH, f"//div[contains(@class,'lm-MenuBar-itemLabel') and text()='{labels[0]}']").click()
    for label in labels[1:]:
        wait_for(lambda: driver.find_elements(
            By.XPATH, f"//li[contains(@class,'lm-Menu-item') and @data-type='submenu'][.//div[text()='{label}']]"),
            10, f"submenu {label}")[0].click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, f".lm-Menu-item[data-command='{command}']"),
             10, f"menu item {command}")[0].click()


def accept_dialog(driver) -> None:
    for button in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept"):
        button.click()


def panel(driver):
    """The notebook panel on show."""
    return wait_for(lambda: [p for p in driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel") if p.is_displayed()],
                    60, "a notebook panel")[0]


def kernel_status(driver) -> str:
    found = [e.get_attribute("data-status") for e in panel(driver).find_elements(
        By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator")]
    return found[0] if found else ""


def current_tab(driver) -> str:
    labels = driver.find_elements(By.CSS_SELECTOR, ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    return labels[0].text if labels else ""


def open_notebook(driver, lab: Lab, name: str) -> None:
    driver.get(lab.url(f"lab/tree/{name}"))
    wait_for(lambda: current_tab(driver) == name, 120, f"{name}'s tab")
    wait_for(lambda: panel(driver).find_elements(By.CSS_SELECTOR, ".jp-Cell"), 120, f"{name}'s cells")
    wait_for(lambda: "ipykernel" in panel(driver).find_element(By.CSS_SELECTOR, ".jp-Toolbar").text, 120,
             "the notebook's kernel to start")
    wait_for(lambda: kernel_status(driver) == "idle", 120, "an idle kernel")
    wait_for(lambda: not [e for e in driver.find_elements(By.CSS_SELECTOR, ".jp-Spinner") if e.is_displayed()],
             120, "the notebook to finish loading")


def prompts(driver) -> list:
    return [e.text.strip() for e in panel(driver).find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputArea-prompt")]


def run_all(driver) -> None:
    menu(driver, "Run", command="runmenu:run-all")
    wait_for(lambda: any("*" in p for p in prompts(driver)), 60, "the first cell to start")
    idle_polls = []

    def finished():
        busy = any("*" in p for p in prompts(driver)) or kernel_status(driver) != "idle"
        idle_polls.append(not busy)
        return len(idle_polls) >= 2 and all(idle_polls[-2:])        # idle twice in a row
    wait_for(finished, RUN_TIMEOUT, "Run All to finish", poll=2)


def dirty(driver) -> bool:
    tabs = driver.find_elements(By.CSS_SELECTOR, ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    return any("jp-mod-dirty" in t.get_attribute("class") for t in tabs)


def close_everything(driver, lab: Lab) -> None:
    """Close every tab and shut down every kernel (so the next page load restores nothing)."""
    menu(driver, "File", command="application:close-all")
    time.sleep(1)
    accept_dialog(driver)
    for session in json.loads(urllib.request.urlopen(lab.url("api/sessions")).read()):
        urllib.request.urlopen(urllib.request.Request(lab.url(f"api/sessions/{session['id']}"), method="DELETE"))


def outputs(driver, mime: str = None) -> list:
    selector = ".jp-OutputArea-output" + (f"[data-mime-type='{mime}']" if mime else "")
    return panel(driver).find_elements(By.CSS_SELECTOR, selector)


def shown(driver, element) -> bool:
    """Scrolled into view, displayed, with a size, and not inside collapsed or trimmed outputs."""
    js(driver, "arguments[0].scrollIntoView({block: 'center'})", element)
    time.sleep(0.2)
    box = js(driver, "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", element)
    hidden = js(driver, "return !!arguments[0].closest('.lm-mod-hidden, .jp-TrimmedOutputs, .jp-mod-outputsScrolled')",
                element)
    return element.is_displayed() and box[0] > 0 and box[1] > 0 and not hidden


def result_output(driver, pattern: str):
    """The one output whose text matches `pattern` (waiting while the notebook renders)."""
    def matching():
        return [o for o in outputs(driver) if re.search(pattern, js(driver, "return arguments[0].textContent", o))]
    found = wait_for(matching, 60, f"an output matching {pattern!r}")
    assert len(found) == 1, f"{len(found)} outputs match {pattern!r}"
    return found[0]


def headings(driver, tag: str) -> list:
    return [js(driver, "return arguments[0].textContent", h).replace("¶", "").strip()
            for h in panel(driver).find_elements(By.CSS_SELECTOR, f".jp-MarkdownCell .jp-RenderedMarkdown {tag}")]


def markdown_headings(name: str, level: int) -> list:
    prefix = "#" * level + " "
    return [line[len(prefix):].strip() for cell in nbformat.read(SOURCE / name, as_version=4).cells
            if cell.cell_type == "markdown" for line in cell.source.splitlines() if line.startswith(prefix)]


def progress_by_cell(driver) -> list:
    """[[progress line, ...] per cell]: the text outputs that show training progress, grouped by cell."""
    groups = js(driver, """
        const cells = [];
        for (const cell of arguments[0].querySelectorAll('.jp-CodeCell')) {
            const texts = Array.from(cell.querySelectorAll(".jp-OutputArea-output[data-mime-type='text/plain']"))
                .map(o => o.textContent).filter(t => /epoch \\d+\\/\\d+/.test(t));
            if (texts.length) cells.push(texts);
        }
        return cells;""", panel(driver))
    return groups


def page_text(driver) -> str:
    return js(driver, "return document.body.textContent")


def check_results_readable(driver, shots, name: str, when: str) -> None:
    assert not driver.find_elements(By.CSS_SELECTOR, ".jp-TrimmedOutputs"), "an output area hides outputs"
    for pattern in RESULTS[name]:
        output = result_output(driver, pattern)
        assert shown(driver, output), f"{pattern!r} is not visible {when}"
        shots(f"{when}-result", output.find_element(By.XPATH, "ancestor::div[contains(@class,'jp-CodeCell')]"))
    groups = wait_for(lambda: len(progress_by_cell(driver)) == len(TRAININGS[name]) and progress_by_cell(driver),
                      60, "the progress outputs")
    assert [[line.split()[0] for line in g[0].splitlines()] for g in groups] == TRAININGS[name], groups
    assert all(len(g) == 1 for g in groups), "more than one progress output in a cell"
    for group in groups:
        for line in group[0].splitlines():
            assert re.search("█{%d} 100%%" % CellProgress.WIDTH + r"  epoch (\d+)/\1 .* done in ", line), line


# ----------------------------------------------------------------------------- the tests
def test_start_gives_a_student_lab_on_a_working_copy(lab, driver, screenshots):
    shots = Shots(driver, screenshots)
    assert "kept (your work so far): 1_autoencoder.ipynb, 2_batchnorm_dropout.ipynb" in lab.stdout.read_text()
    open_notebook(driver, lab, "1_autoencoder.ipynb")
    shots("start-lab")
    menus = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")]
    sidebar = [e.get_attribute("title") or "" for e in driver.find_elements(By.CSS_SELECTOR, ".jp-SideBar .lm-TabBar-tab")]
    assert "Run" in menus and "Nbgrader" not in menus, menus
    assert sidebar and not [t for t in sidebar if "nbgrader" in t.lower() or "assignment" in t.lower()], sidebar
    root = json.loads(urllib.request.urlopen(lab.url("api/contents")).read())
    assert sorted(item["name"] for item in root["content"]) == ["1_autoencoder.ipynb", "2_batchnorm_dropout.ipynb"]
    release_version = nbformat.read(RELEASE / "1_autoencoder.ipynb", as_version=4).metadata.language_info.version
    if release_version == ".".join(map(str, sys.version_info[:3])):      # else the kernel's version differs
        time.sleep(3)                                    # a margin for the kernel's language_info to arrive
        assert not dirty(driver), "opening the notebook marked it modified"
    errors = [line for line in lab.log.read_text().splitlines() if line.startswith("[E")]
    assert not errors, errors


@pytest.mark.parametrize("name", list(RESULTS))
def test_a_solved_notebook_runs_and_reads_well_also_after_reopening(lab, driver, screenshots, name):
    shots = Shots(driver, screenshots / name[:-6])
    shots.folder.mkdir(exist_ok=True)
    open_notebook(driver, lab, name)
    h1, h2 = markdown_headings(name, 1), markdown_headings(name, 2)
    assert len(h1) == 1 and len(h2) >= 5 and not [h for h in h1 + h2 if h.startswith("#")], (h1, h2)
    wait_for(lambda: headings(driver, "h1") == h1 and headings(driver, "h2") == h2, 60,
             f"headings rendered as h1 {h1} and h2 {h2}; rendered: {headings(driver, 'h1')} {headings(driver, 'h2')}")
    shots("opened")

    run_all(driver)
    shots("ran")
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts(driver)), prompts(driver)
    stderr = [o.text[:300] for o in outputs(driver, STDERR)]
    assert not stderr, f"error or stderr output: {stderr}"
    check_results_readable(driver, shots, name, "live")
    figures = outputs(driver, "image/png")
    assert len(figures) == FIGURES[name]
    for figure in figures:
        assert shown(driver, figure)
        image = figure.find_element(By.TAG_NAME, "img")
        assert js(driver, "return arguments[0].complete && arguments[0].naturalWidth > 100", image), "a figure did not render"
    shots("figure", figures[-1])

    menu(driver, "File", command="docmanager:save")
    wait_for(lambda: not dirty(driver), 60, "the save")
    menu(driver, "Kernel", command="kernelmenu:shutdown")
    time.sleep(1)
    accept_dialog(driver)
    wait_for(lambda: kernel_status(driver) != "idle" or "No Kernel" in panel(driver).text, 60, "the kernel to shut down")
    shots("saved-and-shut-down")
    menu(driver, "File", command="application:close-all")
    accept_dialog(driver)
    saved = nbformat.read(lab.exercise / name, as_version=4)
    kinds = {key for cell in saved.cells for o in cell.get("outputs", []) for key in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" not in kinds, kinds

    open_notebook(driver, lab, name)                     # a fresh page: no widget state survives
    shots("reopened")
    assert not [text for text in WIDGET_ERRORS if text in page_text(driver)]
    assert not outputs(driver, STDERR)
    check_results_readable(driver, shots, name, "reopened")
    close_everything(driver, lab)


def test_the_tensorboard_instructions_work_as_written(lab, driver, screenshots):
    """Both ways the notebooks give: `%load_ext tensorboard` + `%tensorboard --logdir lightning_logs`
    in a new cell, and `tensorboard --logdir lightning_logs` in a JupyterLab terminal."""
    if not (lab.exercise / "lightning_logs").is_dir():
        pytest.skip("needs the notebooks' runs (test_a_solved_notebook_runs_and_reads_well_also_after_reopening)")
    shots = Shots(driver, screenshots / "tensorboard")
    shots.folder.mkdir(exist_ok=True)
    runs = sorted(str(p.parent.relative_to(lab.exercise / "lightning_logs"))
                  for p in (lab.exercise / "lightning_logs").rglob("events.out.tfevents.*"))
    assert runs

    open_notebook(driver, lab, "2_batchnorm_dropout.ipynb")
    old_frames = {f.get_attribute("id") for f in driver.find_elements(By.TAG_NAME, "iframe")}
    cells = panel(driver).find_elements(By.CSS_SELECTOR, ".jp-Cell")
    js(driver, "arguments[0].scrollIntoView()", cells[-1])
    cells[-1].click()
    ActionChains(driver).send_keys(Keys.ESCAPE).send_keys("b").perform()
    editor = wait_for(lambda: [e for e in panel(driver).find_elements(By.CSS_SELECTOR, ".jp-Cell.jp-mod-active .cm-content")],
                      10, "the new cell's editor")[0]
    editor.click()
    ActionChains(driver).send_keys("%load_ext tensorboard").send_keys(Keys.ENTER) \
        .send_keys("%tensorboard --logdir lightning_logs").key_down(Keys.SHIFT).send_keys(Keys.ENTER) \
        .key_up(Keys.SHIFT).perform()
    frame = wait_for(lambda: [f for f in panel(driver).find_elements(By.CSS_SELECTOR, "iframe[id^='tensorboard-frame']")
                              if f.get_attribute("id") not in old_frames], 180, "the new cell's TensorBoard frame")[0]
    cell_text = frame.find_element(By.XPATH, "ancestor::div[contains(@class,'jp-CodeCell')]").text
    assert "ERROR" not in cell_text and "could not" not in cell_text.lower(), cell_text
    magic = wait_for(lambda: lab.tensorboards(), 60, "the TensorBoard info file")
    assert [info["cwd"] for info in magic] == [str(lab.exercise)]
    driver.switch_to.frame(frame)
    wait_for(lambda: js(driver, "return document.title") == "TensorBoard", 120, "TensorBoard's page in the frame")
    driver.switch_to.default_content()
    js(driver, "arguments[0].scrollIntoView()", frame)
    time.sleep(3)
    shots("magic", frame.find_element(By.XPATH, "ancestor::div[contains(@class,'jp-CodeCell')]"))

    menu(driver, "File", "New", command="terminal:create-new")
    terminal = wait_for(lambda: [t for t in driver.find_elements(By.CSS_SELECTOR, ".jp-Terminal") if t.is_displayed()],
                        60, "a terminal")[0]
    time.sleep(2)
    terminal.click()
    ActionChains(driver).send_keys("tensorboard --logdir lightning_logs").send_keys(Keys.ENTER).perform()
    infos = wait_for(lambda: len(lab.tensorboards()) == 2 and lab.tensorboards(), 120, "the terminal's TensorBoard")
    time.sleep(2)
    shots("terminal")
    for info in infos:
        assert info["cwd"] == str(lab.exercise)               # the terminal opened next to lightning_logs
        wait_for(lambda: served_runs(info["port"]) == runs, 60, f"TensorBoard on port {info['port']} to list {runs}")
    errors = [line for line in lab.log.read_text().splitlines() if line.startswith("[E")]
    assert not errors, errors                                # in the server's log over the whole session


def served_runs(port: int) -> list:
    return sorted(json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=30).read()))


# ----------------------------------------------------------------------------- the feedback page
def assert_feedback_shows_points_and_messages(driver, shots, html: Path, autograded: Path, row: dict) -> None:
    """Each test cell of the graded notebook shows its points and its judge's message.

    Expected values come from the grader's own records: points from grades.csv, the verdicts (each
    test cell's only output: "✓ 1 / 1 points: ..." or "Failed: 0 / 1 points: ...") from the
    autograded notebook."""
    nb = nbformat.read(autograded, as_version=4)
    driver.get(html.as_uri())
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "a[name]"), 30, "the feedback page")
    shots("feedback-top")
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests
    for cell in tests:
        grade_id, points = cell.metadata.nbgrader["grade_id"], cell.metadata.nbgrader["points"]
        box = driver.find_element(By.XPATH, f"//a[@name='{grade_id}']/ancestor::div[contains(concat(' ', @class, ' '), ' cell ')][1]")
        score = f"Score: {float(row[grade_id])} / {float(points)}"
        assert shown(driver, box) and score in box.text, (grade_id, score, box.text[:300])
        [verdict] = cell.outputs
        message = verdict.text.strip() if verdict.output_type == "stream" else f"{verdict.ename}: {verdict.evalue}"
        assert f"{float(row[grade_id]):g} / {float(points):g} points" in message and message in box.text, \
            (grade_id, message, box.text[:500])
        shots(f"feedback-{grade_id}", box)


def test_feedback_of_a_graded_demo_submission_shows_points_and_messages(driver, screenshots, mnist_cache, tmp_path):
    root = course_copy(FIXTURE, tmp_path)
    env = dict(os.environ, I2DL_COURSE_ROOT=str(root), I2DL_DATA_DIR=str(mnist_cache.path.parent))
    out = subprocess.run([I2DL, "demo", "--assignment", TINY], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    row = table(root / "grades.csv")["demo-partial"]
    shots = Shots(driver, screenshots / "feedback")
    shots.folder.mkdir(exist_ok=True)
    for notebook in sorted((root / "autograded" / "demo-partial" / TINY).glob("*.ipynb")):
        html = root / "feedback" / "demo-partial" / TINY / f"{notebook.stem}.html"
        assert_feedback_shows_points_and_messages(driver, shots, html, notebook, row)
