"""The web console in a real browser: Debian's headless Chromium, driven by selenium through Debian's
chromedriver (never Selenium Manager: nothing is downloaded), against a real gateway process on loopback
in local mode (``python -m stockops.gateway``, an isolated ``STOCKOPS_HOME``, real OHLCV CSVs, a tiny
training template) that has trained a parent (^GSPC) and one child (AAPL) before the browser starts.

What is checked is what a user sees: the pages load without a key and ask for one; with the key the
tickers list shows AAPL Ready with its skill; the "forecast a new ticker" form starts MSFT's training,
its progress is shown until the phase reads Ready, and MSFT's page then draws the fan chart (history,
median, 10-90 % band, random walk) with its metrics and a drift check; the analysis page answers a
question with a stance and a confidence (local mode without an LLM endpoint: the template writer);
report Markdown becomes text, never markup.

Screenshots (artifacts): ``$STOCKOPS_TEST_ARTIFACTS/console/`` when that variable is set, otherwise a
``console-screenshots`` folder in pytest's temp directory; the path is printed (``-s`` or ``-rA``) and
recorded as the ``screenshots`` user property of each test. A failing test also leaves
``<test>-failure.png`` and the browser's console log there.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.component

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TRAINING_TIMEOUT = 600.0  # seconds for a tiny training on a busy 2-core machine
ANALYSIS_TIMEOUT = 300.0
KNOWN_STANCES = {"BULLISH", "BEARISH", "NEUTRAL"}

# Tiny trainings: a small recent window, one small layer, two epochs, one thread.
PARENT_TEMPLATE = """\
apiVersion: stockops.io/v1alpha1
kind: ParentModel
spec:
  ticker: FILLED-IN
  data: {start: "2021-01-01"}
  model: {hiddenSize: 8, numLayers: 1, contextDays: 20, horizonDays: 5}
  training: {epochs: 2, batchSize: 64, numThreads: 1}
  promotion: {minSkill: -1}
"""
TICKER_TEMPLATE = """\
apiVersion: stockops.io/v1alpha1
kind: TickerModel
spec:
  ticker: FILLED-IN
  parentRef: {name: gspc}
  data: {start: "2021-01-01"}
  transfer: {strategy: fine-tune, epochs: 2}
  training: {epochs: 2, batchSize: 64, numThreads: 1}
  promotion: {minSkill: -1}
"""


@dataclass(frozen=True)
class Gateway:
    url: str
    key: str
    log: Path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def _write_keys(home: Path) -> str:
    """One key with every scope, stored as its SHA-256 digest (the gateway's keys file format)."""
    key = "sk_" + secrets.token_urlsafe(32)
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = home / "gateway" / "keys.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"name": "console-test", "sha256": digest, "scopes": ["read", "train", "admin"]}
    path.write_text(json.dumps({"keys": [entry]}))
    return key


def _wait_for_task(gateway: Gateway, task_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        code, status = gateway.call("GET", f"/status/{task_id}")
        assert code == 200, status
        if status["phase"] in ("Ready", "Succeeded"):
            return status
        assert status["phase"] != "Failed", status
        time.sleep(1.0)
    pytest.fail(f"task {task_id} not done after {timeout:.0f}s: {status}")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, ohlcv_dir: Path, loopback: Any) -> Iterator[Gateway]:
    """A local-mode gateway on loopback with ^GSPC and AAPL trained (through its own API)."""
    root = tmp_path_factory.mktemp("console-gateway")
    home = root / "home"
    key = _write_keys(home)
    (root / "parent.yaml").write_text(PARENT_TEMPLATE)
    (root / "ticker.yaml").write_text(TICKER_TEMPLATE)
    port = loopback.free_port()
    env = {
        **os.environ,
        "STOCKOPS_HOME": str(home),
        "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
        "STOCKOPS_GATEWAY_PORT": str(port),
        "STOCKOPS_GATEWAY_PARENT_TEMPLATE": str(root / "parent.yaml"),
        "STOCKOPS_GATEWAY_TICKER_TEMPLATE": str(root / "ticker.yaml"),
        "STOCKOPS_GATEWAY_RATE_LIMIT_REQUESTS": "100000",
    }
    for name in ("MLFLOW_TRACKING_URI", "STOCKOPS_REDIS_URL", "STOCKOPS_GATEWAY_REDIS_URL"):
        env.pop(name, None)
    env.pop("STOCKOPS_LLM_ENDPOINT", None)  # the template writer: deterministic, no server needed
    log = root / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stockops.gateway"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    gw = Gateway(url=url, key=key, log=log)
    try:
        loopback.wait_until(
            lambda: loopback.http_ok(f"{url}/health"), timeout=120, what="gateway", process=process, log=log
        )
        code, accepted = gw.call("POST", "/predict-child", {"ticker": "AAPL", "days": 5})
        if code == 202:
            _wait_for_task(gw, accepted["task_id"], TRAINING_TIMEOUT)
        else:
            assert code == 200, accepted
        yield gw
    finally:
        loopback.stop_process(process)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (see the module docstring)."""
    configured = os.environ.get("STOCKOPS_TEST_ARTIFACTS")
    folder = Path(configured) / "console" if configured else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium through Debian's chromedriver; fails (never skips) when either is missing."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            pytest.fail(
                f"{binary} not found: run `bash scripts/bootstrap.sh` (Debian's chromium, chromium-driver)"
            )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers without user namespaces
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1400",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(
    browser: Any, gateway: Gateway, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], None]]:
    """``page(path)`` opens a console page; on failure a screenshot and the browser log are kept."""
    request.node.user_properties.append(("screenshots", str(artifacts)))

    def open_page(path: str) -> None:
        browser.get(gateway.url + path)

    failed_before = request.session.testsfailed
    yield open_page
    if request.session.testsfailed > failed_before:  # this test's call failed: keep what it saw
        name = request.node.name
        browser.save_screenshot(str(artifacts / f"{name}-failure.png"))
        lines = [f"{e['level']} {e['message']}" for e in browser.get_log("browser")]
        (artifacts / f"{name}-browser.log").write_text("\n".join(lines))


def _wait(browser: Any, check: Callable[[Any], Any], timeout: float, what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.2).until(check)
    except TimeoutException:
        pytest.fail(
            f"{what} not seen after {timeout:.0f}s; page text:\n"
            + browser.find_element("tag name", "body").text
        )


def _by_testid(browser: Any, testid: str) -> list[Any]:
    return browser.find_elements("css selector", f"[data-testid='{testid}']")


# The progress block's phase text and bar value, read in one step inside the page: the block is
# re-rendered on every poll, so two WebDriver reads could straddle a re-render (a stale element).
PROGRESS_READ = """
const block = document.querySelector(arguments[0] + " [data-testid=task-progress]");
return block && [block.querySelector("[data-testid=task-phase]").textContent,
                 block.querySelector("progress").value];
"""


def _enter_key(browser: Any, key: str) -> None:
    browser.find_element("id", "api-key-input").send_keys(key)
    browser.find_element("id", "api-key-save").click()
    _wait(browser, lambda b: "key set" in b.find_element("id", "api-key-status").text, 10, "key accepted")


def test_pages_load_without_a_key_then_the_key_shows_the_trained_models(
    browser: Any, gateway: Gateway, page: Callable[[str], None], artifacts: Path
) -> None:
    for path, title in (
        ("/ticker.html?ticker=AAPL", "AAPL"),
        ("/analysis.html", "analysis"),
        ("/", "tickers"),
    ):
        page(path)
        assert title in browser.title
    # no key in this tab yet: the list call is refused and the page says a key is needed
    notice = _wait(browser, lambda b: b.find_element("id", "notice").text, 30, "the missing-key notice")
    assert "API key" in notice
    browser.save_screenshot(str(artifacts / "01-tickers-no-key.png"))

    _enter_key(browser, gateway.key)
    row = _wait(
        browser,
        lambda b: b.find_elements("css selector", "[data-testid='ticker-row'][data-ticker='AAPL']"),
        30,
        "the AAPL row",
    )[0]
    assert row.find_element("css selector", "[data-testid='ticker-phase']").text == "Ready"
    skill = row.find_element("css selector", "[data-testid='ticker-skill']").text
    assert skill[0] in "+-" and float(skill) > -100, skill  # a number, signed
    assert not browser.find_element("id", "notice").is_displayed()
    browser.save_screenshot(str(artifacts / "02-tickers.png"))


def test_a_new_ticker_trains_to_ready_and_its_fan_chart_appears(
    browser: Any, gateway: Gateway, page: Callable[[str], None], artifacts: Path
) -> None:
    page("/")
    if "key set" not in browser.find_element("id", "api-key-status").text:
        _enter_key(browser, gateway.key)
    browser.find_element("id", "new-ticker-input").send_keys("msft")
    browser.find_element("id", "new-ticker-days").clear()
    browser.find_element("id", "new-ticker-days").send_keys("5")
    browser.find_element("id", "new-ticker-submit").click()

    # watch the progress block until it reads Ready, noting every phase and percentage shown on the way
    seen_phases: list[str] = []
    seen_progress: list[float] = []
    screenshot_taken = False
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while time.monotonic() < deadline:
        if _by_testid(browser, "new-ticker-link"):
            break
        shown = browser.execute_script(PROGRESS_READ, "#new-ticker-result")
        if shown:
            phase, value = shown
            if not seen_phases or seen_phases[-1] != phase:
                seen_phases.append(phase)
            seen_progress.append(float(value))
            if phase == "Training" and not screenshot_taken:
                browser.save_screenshot(str(artifacts / "03-new-ticker-training.png"))
                screenshot_taken = True
        time.sleep(0.2)
    else:
        pytest.fail(
            f"MSFT's training did not reach Ready; phases seen {seen_phases}\n"
            + gateway.log.read_text()[-3000:]
        )
    final = _by_testid(browser, "task-phase")[-1].text
    assert final == "Ready", seen_phases
    assert seen_phases[0] != "Ready" and set(seen_phases[:-1]) <= {"Pending", "WaitingForParent", "Training"}
    assert seen_progress == sorted(seen_progress), "progress went backwards"
    progress_bar = browser.find_element("css selector", "[data-testid='task-progress-bar']")
    assert progress_bar.get_attribute("value") == "100"
    browser.save_screenshot(str(artifacts / "04-new-ticker-ready.png"))

    browser.find_element("css selector", "[data-testid='new-ticker-link']").click()
    _wait(browser, lambda b: _by_testid(b, "chart-median"), 60, "the forecast median path")
    code, forecast = gateway.call("POST", "/predict-child", {"ticker": "MSFT", "days": 5})
    assert code == 200, forecast
    for testid in ("chart-history", "chart-median", "chart-naive"):
        path = _by_testid(browser, testid)[0].get_attribute("d")
        assert path.startswith("M") and path.count("L") >= 5, (testid, path)  # last close + 5 sessions
    if all(p["low"] is not None for p in forecast["forecast"]):
        assert _by_testid(browser, "chart-band")[0].get_attribute("d").endswith("Z")
    note = browser.find_element("id", "no-edge-note")
    assert note.is_displayed() == forecast["no_edge"]
    if forecast["no_edge"]:
        assert "no edge: forecasts the last close" in note.text
    rows = browser.find_elements("css selector", "#forecast-table tbody tr")
    assert [r.find_element("tag name", "th").text for r in rows] == [p["date"] for p in forecast["forecast"]]
    assert browser.find_element("css selector", "[data-testid='ticker-phase']").text == "Ready"
    skill = browser.find_element("css selector", "[data-testid='metric-skill']").text
    assert "[" in skill and "]" in skill, skill  # the skill with its 95 % interval
    browser.save_screenshot(str(artifacts / "05-ticker-msft.png"))

    browser.find_element("id", "drift-run").click()
    verdict = _wait(
        browser,
        lambda b: (els := _by_testid(b, "drift-verdict")) and els[0].text,
        120,
        "a drift verdict",
    )
    assert verdict in {"NoDrift", "Drifted", "InsufficientData"}
    assert browser.find_element("css selector", "[data-testid='live-verdict']").text
    browser.save_screenshot(str(artifacts / "06-ticker-msft-drift.png"))


def test_an_unknown_tickers_page_trains_it_on_request_with_progress_then_draws_the_chart(
    browser: Any, gateway: Gateway, page: Callable[[str], None], artifacts: Path
) -> None:
    page("/ticker.html?ticker=googl")
    if "key set" not in browser.find_element("id", "api-key-status").text:
        _enter_key(browser, gateway.key)
    start = _wait(browser, lambda b: b.find_elements("id", "ticker-train"), 30, "the train button")[0]
    assert "GOOGL has no model yet" in browser.find_element("id", "notice").text
    code, _ = gateway.call("GET", "/tickers/GOOGL")
    assert code == 404, "visiting the page must not start a training"
    start.click()

    training = browser.find_element("id", "training-section")
    _wait(browser, lambda b: training.is_displayed(), 30, "the training section")
    phases: list[str] = []
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while time.monotonic() < deadline and not _by_testid(browser, "chart-median"):
        shown = browser.execute_script(PROGRESS_READ, "#training-panel")
        if shown and (not phases or phases[-1] != shown[0]):
            phases.append(shown[0])
        time.sleep(0.2)
    assert _by_testid(browser, "chart-median"), f"no chart after the training; phases seen {phases}"
    history = _by_testid(browser, "chart-history")  # the prices stored by the training, fetched after it
    assert history and history[0].get_attribute("d").count("L") >= 50, "no price history in the chart"
    assert phases and phases[0] != "Ready", phases
    assert training.find_element("css selector", "[data-testid='task-phase']").text == "Ready"
    assert training.find_element("css selector", "progress").get_attribute("value") == "100"
    assert browser.find_element("css selector", "#ticker-phase [data-testid='ticker-phase']").text == "Ready"
    assert "[" in browser.find_element("css selector", "[data-testid='metric-skill']").text
    browser.save_screenshot(str(artifacts / "07-ticker-googl-trained.png"))


def _ask(browser: Any, question: str) -> str:
    """Submit the analysis form and wait for the report; returns the stance shown."""
    box = browser.find_element("id", "analysis-question")
    box.clear()
    box.send_keys(question)
    browser.find_element("id", "analysis-submit").click()
    _wait(
        browser,
        lambda b: not b.find_element("id", "analysis-result").is_displayed(),
        10,
        "the old report hidden",
    )
    return _wait(
        browser,
        lambda b: (
            b.find_element("id", "analysis-stance").text
            if b.find_element("id", "analysis-result").is_displayed()
            else None
        ),
        ANALYSIS_TIMEOUT,
        "the analysis report",
    )


def test_an_analysis_shows_the_report_with_stance_and_confidence_fresh_then_cached(
    browser: Any, gateway: Gateway, page: Callable[[str], None], artifacts: Path
) -> None:
    page("/analysis.html?ticker=AAPL")
    if "key set" not in browser.find_element("id", "api-key-status").text:
        _enter_key(browser, gateway.key)
    assert browser.find_element("id", "analysis-ticker").get_attribute("value") == "AAPL"
    question = "Should I worry about volatility this week?"
    stance = _ask(browser, question)
    assert stance in KNOWN_STANCES
    assert browser.find_element("id", "analysis-confidence").text in {"LOW", "MEDIUM", "HIGH"}
    assert browser.find_element("id", "analysis-cached").text.startswith("fresh")
    report = browser.find_element("id", "analysis-report")
    headings = [h.text for h in report.find_elements("css selector", "h3")]
    assert "Stance" in headings and "Forecast" in headings, headings
    assert stance in report.text  # the report's own stance section says the same call
    assert report.find_elements("css selector", "table"), "the forecast table is rendered as a table"
    browser.save_screenshot(str(artifacts / "08-analysis-fresh.png"))

    # the same question about the same model version and data date: the semantic cache answers
    assert _ask(browser, question) == stance
    assert browser.find_element("id", "analysis-cached").text.startswith("cached")
    browser.save_screenshot(str(artifacts / "09-analysis-cached.png"))


def test_report_markdown_becomes_text_never_markup(browser: Any, page: Callable[[str], None]) -> None:
    page("/analysis.html")
    rendered = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        import("./js/markdown.js").then(({ renderMarkdown }) => {
          const box = document.createElement("div");
          box.append(renderMarkdown(arguments[0]));
          done({
            html: box.innerHTML,
            text: box.textContent,
            active: box.querySelectorAll("script, img, iframe, [onerror], [onclick]").length,
            links: [...box.querySelectorAll("a")].map((a) => a.getAttribute("href")),
            strong: [...box.querySelectorAll("strong")].map((e) => e.textContent),
            styled: box.querySelectorAll("[style]").length,
            right: [...box.querySelectorAll("td.align-right")].map((e) => e.textContent),
          });
        });
        """,
        "# Title\n\n<script>alert(1)</script> **bold** <img src=x onerror=alert(2)>\n\n"
        "- [ok](https://example.org) and [bad](javascript:alert(3))\n\n"
        "| a | b |\n|---|---:|\n| <b>x</b> | 1 |\n",
    )
    assert rendered["active"] == 0, rendered["html"]
    assert "<script>alert(1)</script>" in rendered["text"]
    assert "<b>x</b>" in rendered["text"]
    assert rendered["strong"] == ["bold"]
    assert rendered["links"] == ["https://example.org"]
    # alignment by class, never a style attribute (a strict CSP stays possible)
    assert rendered["styled"] == 0 and rendered["right"] == ["1"]
