"""The bench page in headless Chromium: runs from two devices side by side, emulated ones apart."""

from __future__ import annotations

from tests.edge.server.test_browser import browser  # noqa: F401  (the module-scoped Chromium fixture)
from tests.edge.test_bench import other_host_run


def test_bench_page_compares_devices(start_server, browser, artifacts_dir):  # noqa: F811
    from edge.bench_server import save_report

    for run in (other_host_run("laptop", decode=60.0), other_host_run("pi5"),
                other_host_run("vm", emulated="raspberry-pi-4", decode=30.0)):
        save_report(run["rows"], 9.1, [], run["host"])
    live = start_server(apps={"bench": "edge.bench_server"})
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live.url + "/apps/bench/")
    page.wait_for_selector("#compare table.cmp-measured")
    measured = page.inner_text("#compare table.cmp-measured")
    assert "laptop (aarch64" in measured and "pi5 (aarch64" in measured and "EMULATED" not in measured
    assert "EMULATED raspberry-pi-4 on vm" in page.inner_text("#compare table.cmp-emulated")
    assert page.locator("#compare-chart rect.bar-decode").count() == 3
    page.screenshot(path=str(artifacts_dir / "bench-compare.png"), full_page=True)
    page.uncheck("#picks input >> nth=0")  # fewer runs chosen: fewer rows
    page.wait_for_function("document.querySelectorAll('#compare-chart rect.bar-decode').length === 2")
    page.close()
