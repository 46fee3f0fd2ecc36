"""The playground in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by
Selenium. The test clicks points, changes the L2 strength, and reads the page's state back: stronger L2,
smoother boundary, lower training accuracy on the spiral (the lecture's picture)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ember.viz import toy
from ember.viz.playground import Playground, running

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver (apt-get install them)"
)
STEPS = 600  # training steps before the boundary is read
WAIT = 180  # seconds at most for a state to arrive (a bound for a busy machine, not a measurement)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def state(driver):
    return driver.execute_script("return window.playground.state")


def wait_for(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait

    def met(d):
        found = state(d)
        return found if found is not None and condition(found) else False

    return WebDriverWait(driver, WAIT, poll_frequency=0.2).until(met, what)


def shows(driver, text):
    """Wait until the page's message line holds ``text``."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(lambda d: text in d.find_element("id", "message").text, text)


def settle(driver, l2):
    """Set L2, re-initialize, and wait for STEPS training steps of the new network; the state then."""
    field = driver.find_element("id", "l2")
    field.clear()
    field.send_keys(str(l2))
    driver.find_element("id", "apply").click()
    network = wait_for(driver, lambda s: s["settings"]["l2"] == l2, f"l2 {l2} applied")["network"]
    driver.find_element("id", "reset").click()
    return wait_for(driver, lambda s: s["network"] > network and s["steps"] >= STEPS, f"{STEPS} steps")


def test_the_playground_learns_takes_clicks_and_shows_that_l2_smooths_the_boundary(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with running(Playground("spiral")) as url:
        browser.get(url)
        first = wait_for(browser, lambda s: True, "the first state")
        assert first["dataset"] == "spiral" and len(first["points"]) == 200

        canvas = browser.find_element("id", "plane")  # 520 x 520 pixels for [-1, 1]^2, centre at (0, 0)
        ActionChains(browser).move_to_element_with_offset(canvas, 130, -130).click().perform()
        ActionChains(browser).key_down(Keys.SHIFT).move_to_element_with_offset(
            canvas, -130, 130
        ).click().key_up(Keys.SHIFT).perform()
        clicked = wait_for(browser, lambda s: len(s["points"]) == 202, "two clicked points")
        (x0, y0, label0), (x1, y1, label1) = clicked["points"][-2:]
        assert (label0, label1) == (0, 1)
        assert x0 == pytest.approx(0.5, abs=0.02) and y0 == pytest.approx(0.5, abs=0.02)
        assert x1 == pytest.approx(-0.5, abs=0.02) and y1 == pytest.approx(-0.5, abs=0.02)

        free = settle(browser, 0)
        browser.save_screenshot(str(tmp_path / "l2_0.png"))
        strong = settle(browser, 0.01)
        browser.save_screenshot(str(tmp_path / "l2_0.01.png"))
        for found in (free, strong):
            field = np.asarray(found["field"]).reshape(found["resolution"], -1)
            assert found["roughness"] == pytest.approx(toy.roughness(field), abs=1e-5)
        assert free["accuracy"] > 0.95  # no L2: the net fits the spiral
        assert strong["accuracy"] < free["accuracy"] - 0.1  # stronger L2: lower training accuracy
        assert strong["roughness"] < 0.5 * free["roughness"]  # and a smoother boundary

        for name, value, expected in (
            ("lr", "1e9", "the learning rate (lr) must be between 1e-06 and 10, not 1e+09"),
            ("width", "100000", "width must be between 1 and 128, not 100000"),
        ):
            box = browser.find_element("id", name)
            box.clear()
            box.send_keys(value)
            browser.find_element("id", "apply").click()
            shows(browser, expected)
            box.clear()
            box.send_keys({"lr": "0.01", "width": "16"}[name])
        steps = state(browser)["steps"]
        wait_for(browser, lambda s: s["steps"] > steps, "training goes on after bad input")
        assert Path(tmp_path / "l2_0.01.png").stat().st_size > 10_000
