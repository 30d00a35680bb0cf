"""The report in a real browser: Debian's chromium driven by playwright over a local HTTP server.

Checks what a reader sees: the index loads, its link leads to the paper page, the verdict table
has its rows, the figure image loads, and no page logs a console error or a failed request.
Screenshots land in ``test-artifacts/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import sync_playwright

from repro.report import build_site

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

@pytest.fixture
def chromium() -> Path:
    """Debian's chromium; the test is skipped without it only outside CI (in CI it must run)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing and CI is set; install it: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); CI runs this test")
    return CHROMIUM


@pytest.fixture
def site(tmp_path, record_factory, run_writer, catalog) -> Path:
    """A built site: two adatt runs, the newer one with a real PNG figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = tmp_path / "results"
    run_writer(results, record_factory(run_id="20241201T100000Z-smoke-aaa111", finished_at="2024-12-01T10:05:00+00:00"))
    record = record_factory(run_id="20250101T120000Z-default-bbb222", finished_at="2025-01-01T12:05:00+00:00")
    record["figures"] = ["figures/test_auc_per_task.png"]
    run_dir = run_writer(results, record)
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([1, 2, 3], [0.90, 0.92, 0.93])
    (run_dir / "figures").mkdir()
    fig.savefig(run_dir / "figures" / "test_auc_per_task.png")
    plt.close(fig)
    return build_site(results, tmp_path / "site", catalog, asv_html=tmp_path / "no-asv").parent


@pytest.fixture
def server(site) -> Iterator[str]:
    """The site served on 127.0.0.1 at a free port; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            """Keep the test output clean."""

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.slow
def test_report_in_chromium(chromium, server, tmp_path):
    problems: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900})
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

            page.goto(server + "index.html")
            assert page.title() == "Papers · recrepro"
            assert page.locator("#papers tbody tr").count() == 3
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-index.png"), full_page=True)

            page.get_by_role("link", name="AdaTT: Adaptive Task-to-Task Fusion Network").first.click()
            page.wait_for_load_state("load")
            assert page.url == server + "papers/adatt/index.html"
            rows = page.locator("#verdicts tbody tr")
            assert rows.count() == 3
            assert rows.locator(".verdict").all_inner_texts() == ["reproduced", "not reproduced", "inconclusive"]
            assert page.locator("#protocol-notes li").count() == 2
            image = page.locator("#figures img").first
            image.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            colour = rows.nth(0).locator(".verdict").evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour != rows.nth(1).locator(".verdict").evaluate("e => getComputedStyle(e).backgroundColor")
            page.screenshot(path=str(ARTIFACTS / "report-paper.png"), full_page=True)

            page.get_by_role("link", name="20241201T100000Z-smoke-aaa111").click()
            page.wait_for_load_state("load")
            assert "This is an older run" in page.inner_text("main")
            page.get_by_role("link", name="Performance").click()
            page.wait_for_load_state("load")
            assert page.locator("h1").inner_text() == "Performance"
        finally:
            context.close()
    assert problems == []
