"""Headless Chromium for the viewer's browser tests: Playwright driving Debian's /usr/bin/chromium.

Without the browser or the playwright package the tests skip, saying why; under
``MOTIONGEN_REQUIRE_DATA=1`` (CI) they fail instead, since CI installs both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def unavailable(reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it where the browser tests are required."""
    if os.environ.get("MOTIONGEN_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason}, but MOTIONGEN_REQUIRE_DATA=1 requires the browser tests to run")
    pytest.skip(reason)


def headless_chromium() -> Iterator[Any]:
    """A launched Playwright Chromium browser, closed when the generator ends (a fixture body)."""
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
