"""Open an HTML report in headless Chromium (Debian's package) with the network off, via Playwright."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

PLOT_STATE_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => {
    const box = d.getBoundingClientRect();
    const drawn = d.querySelectorAll(
        '.cartesianlayer .trace path, .cartesianlayer .trace .point, .barlayer .point, .heatmaplayer image, '
        + '.parcoords-line-layers canvas, .gl-container canvas').length;
    return {id: d.id, traces: (d.data || []).length, svg: d.querySelectorAll('.main-svg').length,
            drawn: drawn, height: box.height, width: box.width,
            title: ((d.layout || {}).title || {}).text || ''};
})"""


@dataclass
class PageReport:
    plots: list[dict]
    console_errors: list[str] = field(default_factory=list)
    console_warnings: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    probe: object = None
    """What the `probe` script given to open_report returned, once every plot rendered."""


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get when missing (the test machines run as root)."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.fail("chromium is missing and apt-get is not available: install Debian's chromium package")
        done = subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
            done = subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"apt-get install chromium failed:\n{done.stderr[-2000:]}"
    return CHROMIUM


def open_report(html: Path, screenshot: Path, timeout_ms: int = 120_000, probe: str = "() => null") -> PageReport:
    """Load the page offline, wait for every plot to render, screenshot it, and return what the page logged."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(ensure_chromium()), args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            report = PageReport(plots=[])
            context.route("**/*", lambda route: _only_files(route, report))
            page = context.new_page()
            page.on("console", lambda m: _console(m, report))
            page.on("pageerror", lambda err: report.console_errors.append(f"pageerror: {err}"))
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
            page.wait_for_function("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                                   ".every(d => d._fullLayout && d.querySelector('.main-svg'))", timeout=timeout_ms)
            report.plots = page.evaluate(PLOT_STATE_JS)
            page.mouse.move(640, 450)  # hover labels are drawn from the same strings
            report.probe = page.evaluate(probe)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return report


def _only_files(route, report: PageReport) -> None:
    url = route.request.url
    if url.startswith("file://") or url.startswith("data:"):
        route.continue_()
    else:
        report.blocked_requests.append(url)
        route.abort()


def _console(message, report: PageReport) -> None:
    if message.type == "error":
        report.console_errors.append(message.text)
    elif message.type == "warning":
        report.console_warnings.append(message.text)
