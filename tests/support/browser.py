"""Headless Chromium from the system's packages (Debian's chromium and chromium-driver), driven by Selenium."""

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING_BROWSER = (
    None
    if CHROMIUM and CHROMEDRIVER
    else "headless Chromium is not installed: `apt-get install chromium chromium-driver` (Debian) runs these tests"
)

# No first-run UI, no background traffic (updates, sync, safe browsing lists): the page's requests are the only ones.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@contextlib.contextmanager
def chromium(profile_dir: Path, *, width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium with its own profile folder; quits on exit."""
    assert CHROMIUM and CHROMEDRIVER, MISSING_BROWSER
    options = webdriver.ChromeOptions()
    # Both paths given, so Selenium Manager (which would look for drivers online) is never run.
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={width},{height}")
    # The console, for the tests that check no Content-Security-Policy violation was reported.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def csp_violations(driver: webdriver.Chrome) -> list[str]:
    """Console messages about Content-Security-Policy since the last call (reading the log empties it)."""
    return [
        str(entry["message"])
        for entry in driver.get_log("browser")  # type: ignore[no-untyped-call]  # Selenium leaves it untyped
        if "Content Security Policy" in str(entry.get("message", ""))
    ]
