"""Drive the workshop's projector view and a seat's page in headless Chromium (selenium +
the Debian chromium-driver) at 1280x720 (a projector) and 390 px wide (a phone): the
pages render as valid HTML, fit the screen's width, and show each seat's cells. Prints,
as its last line, JSON {width: {seat: [status of each exercise…]}} as the browser shows
it, for the test to compare with what the seats did. Screenshots go to SCREENSHOT_DIR.

usage: workshop_check.py BASE_URL SCREENSHOT_DIR
"""

import json
import os
import sys
import tempfile
import urllib.request

import html5lib
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

base, shots = sys.argv[1:3]
os.makedirs(shots, exist_ok=True)
room = f"{base}/_mock/dashboard/workshop?live=0"
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def valid_html(url):
    with urllib.request.urlopen(url) as r:
        raw = r.read()
    try:
        html5lib.HTMLParser(strict=True).parse(raw)
    except Exception as e:  # html5lib raises ParseError on the first error
        check(False, f"{url}: invalid HTML: {e}")


def load(driver, url):
    driver.get(url)
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
        and d.find_elements(By.TAG_NAME, "h1")
    )


profile = tempfile.mkdtemp(prefix="mock-pypi-chromium-")
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,720",
            "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
shown = {}
try:
    valid_html(room)
    valid_html(f"{base}/_mock/dashboard/workshop/seats/1?live=0")
    valid_html(f"{base}/_mock/dashboard/workshop/reset")
    for width, height in ((1280, 720), (390, 844)):
        driver.set_window_size(width, height)
        load(driver, room)
        check(driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "room: no lang")
        check(len(driver.find_elements(By.TAG_NAME, "h1")) == 1, "room: not exactly one h1")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, f"room at {width} px: {overflow}px wider than the screen")
        seats = {}
        for row in driver.find_elements(By.CSS_SELECTOR, "table.room tbody tr"):
            cells = row.find_elements(By.CSS_SELECTOR, "td.cell")
            # Every cell is on screen (a phone stacks them; the projector shows them all).
            for c in cells:
                check(c.is_displayed(), f"room at {width} px: a hidden cell in seat {row.get_attribute('data-seat')}")
            seats[row.get_attribute("data-seat")] = [c.get_attribute("data-status") for c in cells]
        shown[str(width)] = seats
        # The projector fits the room's width; its height scrolls at most a little.
        if width == 1280:
            first = driver.find_element(By.CSS_SELECTOR, "table.room tbody tr")
            check(first.size["height"] <= 24, f"room at 1280 px: rows {first.size['height']} px tall")
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, max(height, min(full + 120, 6000)))
        driver.save_screenshot(os.path.join(shots, f"room-{width}.png"))
        driver.set_window_size(width, height)
        # A seat's page: its exercises, each with its state, and the last exchange.
        load(driver, f"{base}/_mock/dashboard/workshop/seats/1?live=0")
        sections = driver.find_elements(By.CSS_SELECTOR, "section.exercise")
        check(len(sections) == 8, f"seat page at {width} px: {len(sections)} exercises")
        check([s.get_attribute("data-status") for s in sections] == shown[str(width)].get("1"),
              f"seat page at {width} px disagrees with the room")
        check("Exchange " in driver.find_element(By.ID, "last-exchange").text, "seat page: no last exchange")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, f"seat page at {width} px: {overflow}px wider than the screen")
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, max(height, min(full + 120, 8000)))
        driver.save_screenshot(os.path.join(shots, f"seat-1-{width}.png"))
finally:
    driver.quit()

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(json.dumps(shown))
