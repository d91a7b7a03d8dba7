"""Drive the dashboard in headless Chromium (selenium + the Debian chromium-driver) and
check what a learner sees: pages render, are valid HTML (html5lib, strict), pass basic
accessibility checks, work on a phone-sized screen, short table columns never wrap,
times read like times, the add-publisher forms work for every provider, and exchange
pages show the mismatching claim and the uploads. Screenshots of the main pages at
1280 and 390 px wide go to SCREENSHOT_DIR.

usage: browser_check.py BASE_URL ADMIN_TOKEN REFUSED_EXCHANGE_ID ACCEPTED_EXCHANGE_ID SCREENSHOT_DIR
"""

import sys
import urllib.request

import html5lib
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import os
import re

base, admin, refused, accepted, shots = sys.argv[1:6]
os.makedirs(shots, exist_ok=True)
dash = f"{base}/_mock/dashboard"
problems = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        problems.append(what)


def valid_html(url):
    with urllib.request.urlopen(url) as r:
        raw = r.read()
    parser = html5lib.HTMLParser(strict=True)
    try:
        parser.parse(raw)
        check(True, "")
    except Exception as e:  # html5lib raises ParseError on the first error
        check(False, f"{url}: invalid HTML: {e}")


CONTRAST = """
function lum(c) {
  const v = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map(x => x / 255)
    .map(x => x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function bg(el) {
  while (el) {
    const c = getComputedStyle(el).backgroundColor;
    if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
    el = el.parentElement;
  }
  return 'rgb(255, 255, 255)';
}
const worst = [];
for (const el of document.querySelectorAll('p, a, td, th, li, label, h1, h2, h3, button, code')) {
  if (!el.textContent.trim() || el.offsetParent === null) continue;
  const a = lum(getComputedStyle(el).color), b = lum(bg(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) worst.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
}
return worst;
"""


NO_WRAP = """
const wrapped = [];
for (const el of document.querySelectorAll('.short')) {
  if (!el.textContent.trim() || el.offsetParent === null) continue;
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
  if (tops.size > 1) wrapped.push(el.textContent.trim().slice(0, 30));
}
return wrapped;
"""


def load(driver, url):
    """Open a page and wait until it and its stylesheet are loaded."""
    driver.get(url)
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
        and d.find_elements(By.TAG_NAME, "h1")
    )


def accessible(driver, url):
    check(driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", f"{url}: no lang")
    check(len(driver.find_elements(By.TAG_NAME, "h1")) == 1, f"{url}: not exactly one h1")
    check(len(driver.find_elements(By.TAG_NAME, "main")) == 1, f"{url}: no main landmark")
    check(len(driver.find_elements(By.CSS_SELECTOR, "nav[aria-label]")) == 1, f"{url}: no labelled nav")
    check(driver.title.endswith("· mock-pypi"), f"{url}: title {driver.title!r}")
    for field in driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select, textarea"):
        fid = field.get_attribute("id")
        labelled = fid and driver.find_elements(By.CSS_SELECTOR, f"label[for='{fid}']")
        check(bool(labelled or field.get_attribute("aria-label")), f"{url}: unlabelled field {fid}")
    for link in driver.find_elements(By.TAG_NAME, "a"):
        check(bool(link.get_attribute("textContent").strip()), f"{url}: empty link text")
    for table in driver.find_elements(By.TAG_NAME, "table"):
        check(bool(table.find_elements(By.TAG_NAME, "th")), f"{url}: table without headers")
    low = driver.execute_script(CONTRAST)
    check(not low, f"{url}: contrast below 4.5:1: {low[:5]}")
    # Short columns (ids, times, providers, verdicts) are never broken across lines.
    wrapped = driver.execute_script(NO_WRAP)
    check(not wrapped, f"{url}: short cells wrap: {wrapped[:5]}")
    # Times read like times, not like log lines.
    text = driver.find_element(By.TAG_NAME, "main").text
    check(not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text), f"{url}: raw timestamps shown")
    # Keyboard: the first Tab lands on the skip link, which leads to the content.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = driver.switch_to.active_element
    check(focused.get_attribute("href", ) is not None and focused.get_attribute("href").endswith("#main"),
          f"{url}: first Tab does not reach the skip link")


import tempfile

profile = tempfile.mkdtemp(prefix="mock-pypi-chromium-")
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
# Headless, as root, offline: no sandbox, no background connections to the internet.
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
            "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    pages = ["", "exchanges", f"exchanges/{refused}", f"exchanges/{accepted}", "publishers", "projects", "issuers",
             "faults"]
    for p in pages:
        url = f"{dash}/{p}"
        load(driver, url)
        check("mock-pypi" in driver.page_source, f"{url}: did not render: {driver.page_source[:500]}")
        accessible(driver, url)
        valid_html(url)

    # The refused exchange names the claim that did not match, with both values.
    load(driver, f"{dash}/exchanges/{refused}")
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr") if "mismatch" in r.text]
    check(any("environment" in r and "staging" in r and "pypi" in r for r in rows),
          f"refused exchange: no environment mismatch row in {rows}")
    # The accepted one shows the minted token and the files uploaded with it.
    load(driver, f"{dash}/exchanges/{accepted}")
    body = driver.find_element(By.TAG_NAME, "main").text
    check("Minted token" in body and "dash_demo-1.0-py3-none-any.whl" in body,
          f"accepted exchange: token or uploads missing:\n{body}")

    # An armed fault: every page says so; the Faults page shows it and where it fired.
    load(driver, f"{dash}/")
    banner = driver.find_elements(By.CSS_SELECTOR, "main .banner")
    check(bool(banner) and "1 fault armed" in banner[0].text, "no banner while a fault is armed")
    load(driver, f"{dash}/faults")
    tables = [t.text for t in driver.find_elements(By.TAG_NAME, "table")]
    check(len(tables) == 2 and "simple-index" in tables[0] and "answer 503 with the CDN's error page" in tables[0],
          f"the armed fault is not listed: {tables}")
    check(len(tables) == 2 and "GET /simple/" in tables[1], f"the fired fault is not listed: {tables}")

    # The add-publisher form: a wrong admin token is refused, the right one adds it.
    def submit(token):
        load(driver, f"{dash}/publishers")
        for field, value in (("project", "from-form"), ("repository", "octo-org/from-form"),
                             ("environment", "pypi"), ("admin_token", token)):
            driver.find_element(By.ID, field).send_keys(value)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    def wait_for(condition, what):
        try:
            WebDriverWait(driver, 10).until(condition)
        except Exception:
            check(False, what)

    submit("wrong")
    wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"), "wrong admin token: no error shown")
    submit(admin)
    wait_for(lambda d: "added=" in d.current_url and d.find_elements(By.CSS_SELECTOR, "[role=status]"),
             f"form did not redirect: {driver.current_url}")
    status = driver.find_elements(By.CSS_SELECTOR, "[role=status]")
    check(bool(status) and "added" in status[0].text, "no confirmation after adding")
    check("octo-org/from-form" in driver.find_element(By.TAG_NAME, "table").text, "new publisher not listed")

    # The other providers' forms, pending ones included.
    def submit_other(summary, fields, token):
        load(driver, f"{dash}/publishers")
        section = [d for d in driver.find_elements(By.TAG_NAME, "details")
                   if d.find_element(By.TAG_NAME, "summary").text == summary][0]
        section.find_element(By.TAG_NAME, "summary").click()
        for field, value in fields:
            element = driver.find_element(By.ID, field)
            if element.tag_name == "select":
                element.send_keys(value)
            else:
                element.send_keys(value)
        section.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda d: "added=" in d.current_url, f"{summary}: form did not redirect: {driver.current_url}")

    submit_other("GitLab CI/CD pipeline", [("gitlab-project", "gl-form"), ("gitlab-path", "octo-group/gl-form"),
                                           ("gitlab-admin", admin)], admin)
    submit_other("Google service account", [("google-project", "g-form"), ("google-email", "sa@p.iam.gserviceaccount.com"),
                                            ("google-pending", "pending"), ("google-admin", admin)], admin)
    submit_other("ActiveState Platform project", [("as-project", "as-form"), ("as-org", "octo"), ("as-name", "as-form"),
                                                  ("as-admin", admin)], admin)
    listed = driver.find_element(By.TAG_NAME, "table").text
    for expected in ("octo-group/gl-form", "sa@p.iam.gserviceaccount.com", "octo/as-form"):
        check(expected in listed, f"{expected} not listed after its form: {listed}")
    google_row = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr") if "sa@p.iam" in r.text][0]
    check(google_row.split()[-1] == "pending", "the Google publisher is not pending")
    # A pending publisher shows when it expires (PyPI's 30 days).
    check(" in 29 days " in google_row or " in 30 days " in google_row, f"no expiry shown: {google_row}")

    # Screenshots for people: a projector-sized and a phone-sized window.
    def shoot(width, height):
        driver.set_window_size(width, height)
        for name, p in (("overview", ""), ("exchanges", "exchanges"), ("refused", f"exchanges/{refused}"),
                        ("accepted", f"exchanges/{accepted}"), ("publishers", "publishers"),
                        ("faults", "faults")):
            load(driver, f"{dash}/{p}")
            full = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, max(height, min(full + 120, 6000)))
            driver.save_screenshot(os.path.join(shots, f"{name}-{width}.png"))
            driver.set_window_size(width, height)

    shoot(1280, 900)
    # A phone: nothing wider than the screen but scrollable tables.
    driver.set_window_size(390, 844)
    for p in pages:
        load(driver, f"{dash}/{p}")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, f"{p}: {overflow}px wider than a phone screen")
        wrapped = driver.execute_script(NO_WRAP)
        check(not wrapped, f"{p} on a phone: short cells wrap: {wrapped[:5]}")
    shoot(390, 844)
finally:
    driver.quit()

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"dashboard OK: {checks} checks")
