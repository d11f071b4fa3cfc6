"""In a real browser: the Dagster webserver on the clean demo's instance, and an attestation, in headless Chromium
(Debian's chromium and chromedriver, driven by selenium). Screenshots are kept in the test's tmp dir."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import DAYS, START

REPO = Path(__file__).resolve().parent.parent
WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1600,1000")
STARTUP_TIMEOUT_S = 120
DAY = START.replace(day=DAYS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and CHROMEDRIVER, "Debian's chromium and chromium-driver are needed: `make setup` installs them"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def dagster_ui(clean_demo, tmp_path_factory):
    home = clean_demo[0]
    port = _free_port()
    log = (tmp_path_factory.mktemp("webserver") / "webserver.log").open("w")
    server = subprocess.Popen(
        [str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home / "dagster"), "BACKED_HOME": str(home)},
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert server.poll() is None, f"dagster-webserver exited; see {log.name}"
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"dagster-webserver did not answer within {STARTUP_TIMEOUT_S}s; see {log.name}")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _dismiss_dialogs(driver) -> None:
    from selenium.webdriver.common.by import By

    # A first visit shows Dagster's community dialog over the page.
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()


def _wait_for_text(driver, text: str, timeout_s: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s).until(expected_conditions.visibility_of_element_located(
        (By.XPATH, f"//*[normalize-space(text())='{text}']")))


def test_the_asset_graph_shows_the_pipeline_assets(dagster_ui, browser, tmp_path):
    browser.get(f"{dagster_ui}/locations/__repository__@orchestration.definitions/asset-groups/attestation/lineage")
    node = _wait_for_text(browser, "reserve_attestation")
    _dismiss_dialogs(browser)
    for upstream in ("reserve_coverage", "journal_lines", "loan_positions"):
        assert _wait_for_text(browser, upstream).is_displayed(), upstream
    assert node.is_displayed()
    browser.save_screenshot(str(tmp_path / "asset-graph-attestation.png"))

    # the whole pipeline, group by group, as the global lineage shows it
    browser.get(f"{dagster_ui}/asset-groups")
    for group in ("chain", "loan_books", "telemetry", "custodian", "staging", "ledger_postings", "ledger",
                  "attestation"):
        assert _wait_for_text(browser, group).is_displayed(), group
    browser.save_screenshot(str(tmp_path / "asset-graph-groups.png"))
    assert (tmp_path / "asset-graph-groups.png").stat().st_size > 10_000


def test_an_attestation_shows_its_coverage_figure_and_title(clean_demo, browser, tmp_path):
    from selenium.webdriver.common.by import By

    report = clean_demo[1].attestations[DAY]
    browser.get(report.as_uri())
    title = browser.find_element(By.TAG_NAME, "h1")
    assert title.text == "Reserve attestation" and title.is_displayed()
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.text.startswith("Liquid coverage ") and "%" in verdict.text
    figure = browser.find_element(By.CSS_SELECTOR, "#chart-coverage-over-time svg")
    browser.execute_script("arguments[0].scrollIntoView()", figure)
    assert figure.is_displayed() and figure.size["width"] > 300 and figure.size["height"] > 100
    assert "Coverage over time" in figure.get_attribute("innerHTML")
    browser.save_screenshot(str(tmp_path / "attestation-coverage.png"))
    assert (tmp_path / "attestation-coverage.png").stat().st_size > 10_000
